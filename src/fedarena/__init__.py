"""fedarena: attacks x defenses x strategies on a non-IID federated recommender.

``fedarena.run``, ``fedarena.frame``, ``fedarena.run_matrix`` and ``fedarena.aggregate`` are
the Python API (``fedarena.api``), imported on first use so that ``import fedarena`` stays
light.
"""

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("fedarena")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0+unknown"

API = ("run", "frame", "run_matrix", "aggregate")


def __getattr__(name: str) -> Any:
    if name in API:
        return getattr(importlib.import_module("fedarena.api"), name)
    raise AttributeError(f"module 'fedarena' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *API])
