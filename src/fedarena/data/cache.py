"""Simulated populations kept on disk, so that the cells of a matrix sharing a world build it once.

A cell's shoppers (their logs, splits and sampled negatives) depend only on the
catalog, the population options and the seed, never on the cell's attack,
defense or strategy: the card grid's 20 components x 3 strategies share each
population, and building it in every cell repeats the same seconds (0.15 s at
500 shoppers, most of a minute at 100,000). ``use(folder)`` turns the cache on
in this process (a matrix worker does, with ``<out>/worlds``);
``population`` then returns the stored population when one exists under the
same key, and builds and stores it otherwise. Without ``use`` it only builds.

The key is SHA-256 over the catalog's arrays, the options, the seed and the
source of the modules that simulate (``fedarena.data``, ``fedarena.seeds``), so
a changed simulation never reuses an old file. Files are ``.npz`` without
pickles, written atomically (a concurrent cell reads a whole file or none); a
file that cannot be read is rebuilt and replaced, and one that cannot be
written is skipped (it is a cache). Loaded arrays equal the built ones bit for
bit (tested), so no number depends on whether a cell found the file.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from contextlib import suppress
from dataclasses import asdict, fields
from functools import cache
from pathlib import Path

import numpy as np

from fedarena import seeds
from fedarena.data.catalog import Catalog
from fedarena.data.shoppers import Population, PopulationConfig, simulate_population
from fedarena.io import write_bytes_atomic

_folder: Path | None = None


def use(folder: Path | None) -> None:
    """Keep populations in ``folder`` from now on in this process (``None``: stop)."""
    global _folder
    _folder = folder


def folder() -> Path | None:
    """Where this process keeps what cells share (``use``), or ``None``: other caches of a
    world (``fedarena.scenario.baseline_cache``) keep their files beside the populations."""
    return _folder


def population(catalog: Catalog, config: PopulationConfig, seed: int) -> Population:
    """``simulate_population(catalog, config, seed)``, from the cache when it holds it."""
    if _folder is None:
        return simulate_population(catalog, config, seed)
    path = _folder / f"population-{population_key(catalog, config, seed)}.npz"
    try:
        return _load(path)
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        pass  # absent, or unreadable: build it again
    built = simulate_population(catalog, config, seed)
    with suppress(OSError):  # a full or read-only disk costs the next cell a rebuild
        write_bytes_atomic(path, _dumps(built))
    return built


def population_key(catalog: Catalog, config: PopulationConfig, seed: int) -> str:
    """What a simulated population is a function of, as a SHA-256 digest."""
    digest = hashlib.sha256(_simulation_source())
    digest.update(json.dumps({"config": asdict(config), "seed": seed}, sort_keys=True).encode())
    for field in fields(catalog):
        value = getattr(catalog, field.name)
        digest.update(field.name.encode())
        if isinstance(value, np.ndarray) and value.dtype != object:
            digest.update(f"{value.dtype.str}{value.shape}".encode())
            digest.update(np.ascontiguousarray(value).tobytes())
        else:
            digest.update(json.dumps([str(v) for v in value]).encode())
    return digest.hexdigest()


@cache
def _simulation_source() -> bytes:
    """The source text of the modules a population is simulated by."""
    data = Path(__file__).parent
    paths = [*sorted(data.glob("*.py")), Path(seeds.__file__)]
    return b"".join(path.read_bytes() for path in paths)


def _dumps(value: Population) -> bytes:
    arrays = {f.name: np.asarray(getattr(value, f.name)) for f in fields(value)}
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _load(path: Path) -> Population:
    with np.load(path, allow_pickle=False) as stored:
        values = {f.name: stored[f.name] for f in fields(Population)}
    values["n_excluded"] = int(values["n_excluded"])
    return Population(**values)
