"""What produced a set of results: package versions, machine, Python, time.

Goes into every leaderboard entry and CI baseline, so that a number can be
traced to the code and environment that computed it.
"""

from __future__ import annotations

import platform
import sys
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from fedarena.matrix.store import now

PACKAGES = ("fedarena", "torch", "flwr", "numpy", "opacus", "scipy", "pandas", "scikit-learn")


def package_versions() -> dict[str, str | None]:
    """Installed version of each package that can change the numbers (``None``: absent)."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for package in PACKAGES:
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = None
    return versions


def environment() -> dict[str, Any]:
    """Package versions, machine and platform, and the time of writing."""
    return {
        "versions": package_versions(),
        "machine": platform.machine(),
        "platform": platform.platform(),
        "byte_order": sys.byteorder,
        "created_at": now(),
    }
