"""Independent implementations that tests and benchmarks check fedarena against.

byzfl imports torchvision (and seaborn) at import time for its benchmark code,
which its aggregators never use; installing torchvision would replace torch
here, so byzfl is installed with ``--no-deps`` and imported behind stand-ins.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types

STAND_INS = ("torchvision", "torchvision.datasets", "torchvision.transforms", "seaborn")


class _StandIn(types.ModuleType):
    """A module whose attributes are do-nothing callables (``transforms.Compose(...)``)."""

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return lambda *args, **kwargs: None


def import_byzfl() -> types.ModuleType | None:
    """The byzfl package imported behind stand-ins for what it needs only to plot, or None."""
    if importlib.util.find_spec("byzfl") is None:
        return None
    added = [n for n in STAND_INS if importlib.util.find_spec(n.split(".")[0]) is None]
    for name in added:
        sys.modules[name] = _StandIn(name)
    if "torchvision" in added:
        for child in ("datasets", "transforms"):
            setattr(sys.modules["torchvision"], child, sys.modules[f"torchvision.{child}"])
    try:
        return importlib.import_module("byzfl")
    finally:
        for name in added:
            sys.modules.pop(name, None)
