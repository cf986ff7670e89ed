"""The local-only and centralised baselines kept on disk, so that the cells of a matrix
sharing a world train them once.

Both are a function of the world alone (shoppers, honest set, initial weights, local
training options, seed), never of the cell's attack, defense or strategy, and they are a
third of a FedMF cell on MovieLens (4.8 s of 14.7 s). Where ``fedarena.data.cache`` keeps a
folder (a matrix worker does), ``baseline`` returns the stored metrics when one exists under
the same key, and computes and stores them otherwise; without it, it only computes.

The key is SHA-256 over every input the baseline reads: the population's arrays, the honest
shoppers, the initial shared parameters and private embeddings, the model's structure and
layout, the local options, the seed, and the source of the whole package (any code change
invalidates every entry). Metrics are JSON, which writes a float's shortest repr and reads
back the same double, so a number never depends on whether a cell found the file. A file
that cannot be read is recomputed and replaced; one that cannot be written is skipped.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from contextlib import suppress
from dataclasses import asdict, fields
from functools import cache as memoise
from pathlib import Path

import numpy as np
import torch

import fedarena
from fedarena.data import cache
from fedarena.io import write_bytes_atomic
from fedarena.scenario.world import World

Metrics = dict[str, float | None]


def baseline(name: str, world: World, compute: Callable[[], Metrics]) -> Metrics:
    """``compute()``, the baseline ``name`` of ``world``, from the folder when it holds it."""
    folder = cache.folder()
    if folder is None:
        return compute()
    path = folder / f"baseline-{name}-{baseline_key(name, world)}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        pass  # absent, or unreadable: compute it again
    metrics = compute()
    with suppress(OSError):  # a full or read-only disk costs the next cell a recomputation
        write_bytes_atomic(path, json.dumps(metrics).encode())
    return metrics


def baseline_key(name: str, world: World) -> str:
    """What the baseline ``name`` of ``world`` is a function of, as a SHA-256 digest."""
    digest = hashlib.sha256(_package_source())
    layout = world.layout
    options = {
        "name": name,
        "seed": world.scenario.seed,
        "local": asdict(world.local),
        "model": repr(world.tower),
        "layout": [layout.names, layout.shapes, layout.per_item],
    }
    digest.update(json.dumps(options, sort_keys=True, default=str).encode())
    population = world.population
    arrays = [getattr(population, f.name) for f in fields(population)]
    arrays += [world.benign, world.init_params, world.init_users]
    for value in arrays:
        if isinstance(value, torch.Tensor):
            value = value.detach().numpy()
        value = np.ascontiguousarray(value)
        digest.update(f"{value.dtype.str}{value.shape}".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


@memoise
def _package_source() -> bytes:
    """The source text of every module of the package, in a fixed order."""
    root = Path(fedarena.__file__).parent
    return b"".join(path.read_bytes() for path in sorted(root.rglob("*.py")))
