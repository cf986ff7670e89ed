"""Scenario files: a TOML matrix of scenarios, validated, expanded into cells.

A file sets fields of ``fedarena.scenario.spec.Scenario``; a list is an axis
and the cells are the cross product of the axes::

    description = "card matrix"
    rounds = 30
    seed = [0, 1, 2]
    attack = ["none", "label_flip"]
    defense = ["fedavg", "trimmed_mean(beta=0.1)", "norm_clip(max_norm=1.0) > krum"]

Optional ``[[grid]]`` tables (each with a ``name``) override or extend the
top-level values; the cells are then the union of the grids' products, and a
run may select grids by name. Two references are added to every attacked or
defended cell so that its scores are defined (``docs/matrix.md``): the same
cell with ``attack = "none"`` (the clean run its utility drop is measured
against) and with ``attack = "none"``, ``defense = "fedavg"`` (the reference
its utility is retained against, which also computes the popularity, local and
centralised baselines, once per population). ``baselines = true/false`` in the
file overrides that for every cell.
"""

from __future__ import annotations

import itertools
import re
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from fedarena.components import parse_spec, spec_problem
from fedarena.errors import FedarenaError, SpecError
from fedarena.matrix.cell import Cell, is_reference, with_twins
from fedarena.scenario.spec import COMPONENT_FIELDS, Scenario

# In a file, a component spec is a string.
FIELD_TYPES = {
    f.name: "str" if f.name in COMPONENT_FIELDS else str(f.type) for f in fields(Scenario)
}
TYPE_NAMES = {"int": "an integer", "float": "a number", "str": "a string", "bool": "true or false"}


def _type_ok(value: Any, kind: str) -> bool:
    if isinstance(value, bool):
        return kind == "bool"
    return isinstance(value, {"int": int, "float": (int, float), "str": str, "bool": bool}[kind])


@dataclass(frozen=True)
class Grid:
    """One cross product: each field's list of values (a fixed value is a list of one)."""

    name: str
    axes: dict[str, list[Any]]

    def scenarios(self) -> list[Scenario]:
        names = list(self.axes)
        return [
            Scenario.from_dict(dict(zip(names, values, strict=True)))
            for values in itertools.product(*(self.axes[n] for n in names))
        ]


@dataclass(frozen=True)
class Matrix:
    """A validated scenario file."""

    path: Path
    description: str
    grids: tuple[Grid, ...]
    text: str

    def grid_names(self) -> list[str]:
        return [g.name for g in self.grids]

    def _selected(self, names: Sequence[str] | None) -> list[Grid]:
        if not names:
            return list(self.grids)
        unknown = sorted(set(names) - set(self.grid_names()))
        if unknown:
            raise FedarenaError(
                f"{self.path}: no grid named {unknown[0]!r}; grids: {', '.join(self.grid_names())}"
            )
        return [g for g in self.grids if g.name in names]

    def cells(self, grids: Sequence[str] | None = None) -> list[Cell]:
        """The selected grids' cells and their references, each once, references first."""
        explicit = {g.name: "baselines" in g.axes for g in self.grids}
        ordered: dict[str, Cell] = {}
        references: dict[str, Cell] = {}
        for grid in self._selected(grids):
            for scenario in grid.scenarios():
                for cell in with_twins(scenario, fixed_baselines=explicit[grid.name]):
                    target = references if is_reference(cell.scenario) else ordered
                    target.setdefault(cell.key, cell)
        ordered = {k: v for k, v in ordered.items() if k not in references}
        return [*references.values(), *ordered.values()]

    def problems(self, grids: Sequence[str] | None = None) -> dict[str, str]:
        """Component specs the registries reject, by canonical text:
        ``{spec: "file:line: key = spec: why"}``."""
        found = {}
        for grid in self._selected(grids):
            for name in COMPONENT_FIELDS:
                for value in grid.axes.get(name, []):
                    why = spec_problem(name, value)
                    canonical = str(parse_spec(name, value))
                    if why is not None and canonical not in found:
                        where = _location(self.path, self.text, name)
                        found[canonical] = f"{where}: {name} = {value!r}: {why}"
        return found


def _location(path: Path, text: str, key: str) -> str:
    """``file:line`` of the first line that sets ``key`` (just ``file`` if none does)."""
    pattern = re.compile(rf"^\s*[\"']?{re.escape(key)}[\"']?\s*=", re.MULTILINE)
    match = pattern.search(text)
    if match is None:
        return str(path)
    line = text.count("\n", 0, match.start()) + 1
    return f"{path}:{line}"


def _axis(where: Callable[[str], str], key: str, value: Any) -> list[Any]:
    """A field's values as a list, each checked against the field's type."""
    if key not in FIELD_TYPES:
        raise SpecError(f"{where(key)}: unknown key {key!r}; allowed: {', '.join(FIELD_TYPES)}")
    values = value if isinstance(value, list) else [value]
    if not values:
        raise SpecError(f"{where(key)}: {key} is an empty list, so the matrix has no cells")
    kind = FIELD_TYPES[key]
    for v in values:
        if not _type_ok(v, kind):
            raise SpecError(f"{where(key)}: {key} must be {TYPE_NAMES[kind]}, got {v!r}")
    if key in COMPONENT_FIELDS:
        for v in values:
            try:
                parse_spec(key, v)
            except SpecError as err:
                raise SpecError(f"{where(key)}: {key}: {err}") from None
    duplicates = sorted({repr(v) for v in values if values.count(v) > 1})
    if duplicates:
        raise SpecError(f"{where(key)}: {key} lists {duplicates[0]} more than once")
    return values


def parse_matrix(text: str, path: Path) -> Matrix:
    """Validate a scenario file's text; errors are one line naming the file, line and key."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise SpecError(f"{path}: invalid TOML: {err}") from None

    def where(key: str) -> str:
        return _location(path, text, key)

    description = document.pop("description", "")
    if not isinstance(description, str):
        raise SpecError(f"{where('description')}: description must be a string")
    grid_tables = document.pop("grid", [{"name": path.stem}])
    if not isinstance(grid_tables, list) or not grid_tables:
        raise SpecError(f"{where('grid')}: grid must be [[grid]] tables with a name each")
    shared = {key: _axis(where, key, value) for key, value in document.items()}
    grids = []
    for number, table in enumerate(grid_tables, start=1):
        if not isinstance(table, dict):
            raise SpecError(f"{where('grid')}: grid must be [[grid]] tables with a name each")
        table = dict(table)
        name = table.pop("name", None)
        if not isinstance(name, str) or not name:
            raise SpecError(f'{path}: [[grid]] number {number} needs a name = "..."')
        if name in [g.name for g in grids]:
            raise SpecError(f"{path}: two grids are named {name!r}")
        axes = shared | {key: _axis(where, key, value) for key, value in table.items()}
        grid = Grid(name, axes)
        try:
            grid.scenarios()
        except FedarenaError as err:
            raise SpecError(f"{path}: grid {name!r}: {err}") from None
        grids.append(grid)
    return Matrix(path=path, description=description, grids=tuple(grids), text=text)


def load_matrix(path: Path) -> Matrix:
    """Read and validate a scenario file (see the module docstring for its format)."""
    if not path.is_file():
        raise FedarenaError(f"{path}: no such scenario file")
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise FedarenaError(f"{path}: cannot read: {err}") from None
    matrix = parse_matrix(text, path)
    for grid in matrix.grids:
        for catalog in grid.axes.get("catalog", []):
            if catalog != "builtin" and not Path(catalog).exists():
                where = _location(path, text, "catalog")
                raise SpecError(f"{where}: catalog {catalog!r} does not exist")
    return matrix
