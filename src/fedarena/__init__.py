"""fedarena: attacks x defenses x strategies on a non-IID federated recommender."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("fedarena")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0+unknown"
