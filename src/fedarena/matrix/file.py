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

Tuning (``docs/matrix.md``): with ``tune = true`` (at the top level or in a
grid) each listed defense is swept over its ``tuning_grid``
(``fedarena.defenses.base``), the cross product of every link's grid, options
the spec sets itself kept as written; each setting is a defense of the axis.
``tuning_seeds = [...]`` runs the settings of every swept defense also on
those seeds, which no grid may report (``seed``); the leaderboard chooses a
setting per defense on them (``Matrix.tuning``) and reports it on the others.
A ``[tuning_grid]`` table replaces a defense's own grid::

    tune = true
    tuning_seeds = [100, 101]

    [tuning_grid]
    norm_clip = { max_norm = [1.0, 2.0, 5.0] }
"""

from __future__ import annotations

import itertools
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from fedarena.components import parse_spec, registries
from fedarena.data.amazon import check_amazon
from fedarena.data.builtin import generate_catalog
from fedarena.data.catalog import Catalog
from fedarena.data.logged import SHOP, load_log
from fedarena.data.shoppers import check_catalog_size
from fedarena.defenses import DEFENSES, DefenseSpec
from fedarena.defenses.base import tuning_grid_of
from fedarena.engine.assumed_f import AssumedF
from fedarena.errors import DataError, FedarenaError, SpecError, os_error, shown_path
from fedarena.matrix.cell import Cell, is_reference, with_twins
from fedarena.model import ItemRows
from fedarena.registry import ComponentSpec
from fedarena.scenario.spec import COMPONENT_FIELDS, Scenario
from fedarena.seeds import BUILTIN_CATALOG_SEED

# In a file, a component spec is a string.
FIELD_TYPES = {
    f.name: "str" if f.name in COMPONENT_FIELDS else str(f.type) for f in fields(Scenario)
}
TYPE_NAMES = {
    "int": "an integer",
    "float": "a number",
    "str": "a string",
    "bool": "true or false",
    "str | int": "a string or an integer",
}
KINDS: dict[str, type | tuple[type, ...]] = {
    "int": int,
    "float": (int, float),
    "str": str,
    "bool": bool,
    "str | int": (str, int),
}
DEFAULT_SEED = next(f.default for f in fields(Scenario) if f.name == "seed")
# The options a tuned variant sets, in grid order: (("max_norm", 2.0),).
Setting = tuple[tuple[str, Any], ...]


def _type_ok(value: Any, kind: str) -> bool:
    if isinstance(value, bool):
        return kind == "bool"
    return isinstance(value, KINDS[kind])


@dataclass(frozen=True)
class Variant:
    """One setting of a tuned defense: the spec the file lists and the options tuning set."""

    tuned: str
    setting: Setting

    @property
    def name(self) -> str:
        """What a leaderboard row calls it.

        >>> Variant("norm_clip", (("max_norm", 2.0),)).name
        'norm_clip (max_norm=2.0)'
        """
        return f"{self.tuned} ({', '.join(f'{k}={v!r}' for k, v in self.setting)})"


@dataclass(frozen=True)
class Tuning:
    """What a leaderboard chooses settings by: the tuning seeds, and the variant that each
    swept defense text is (in the grids' order)."""

    seeds: frozenset[int] = frozenset()
    variants: dict[str, Variant] = field(default_factory=dict)

    def merged(self, other: Tuning) -> Tuning:
        """Both tunings' seeds and variants (this one's where both name a defense)."""
        return Tuning(self.seeds | other.seeds, {**other.variants, **self.variants})


def defense_grid(
    name: str, overrides: Mapping[str, Mapping[str, tuple[Any, ...]]]
) -> dict[str, tuple[Any, ...]]:
    """The grid a tuned matrix sweeps for defense ``name``: the file's ``tuning_grid`` entry,
    else the class's; none for a plugin (imported only where it runs) or an unknown name."""
    if name in overrides:
        return dict(overrides[name])
    if ":" in name or name not in DEFENSES.names():
        return {}
    return tuning_grid_of(DEFENSES.factory(name))


def tuned_variants(
    spec: DefenseSpec, overrides: Mapping[str, Mapping[str, tuple[Any, ...]]]
) -> list[tuple[DefenseSpec, Setting]]:
    """Every setting of ``spec``: the cross product of its links' grids, without the options
    a link sets itself; ``[(spec, ())]`` when nothing is swept. A setting names an option by
    its link (``norm_clip.max_norm``) when more than one link is swept.

    >>> [str(v) for v, _ in tuned_variants(DefenseSpec.parse("bucketing > krum"), {})]
    ['bucketing(s=2) > krum', 'bucketing(s=3) > krum', 'bucketing(s=5) > krum']
    """
    per_link = []
    for link in spec.links:
        grid = {} if DEFENSES.problem(link) else defense_grid(link.name, overrides)
        grid = {k: v for k, v in grid.items() if k not in link.options}
        per_link.append(
            [tuple(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())]
        )
    swept = sum(settings != [()] for settings in per_link)
    variants = []
    for combo in itertools.product(*per_link):
        pairs = list(zip(spec.links, combo, strict=True))
        links = tuple(link.with_options(**dict(options)) for link, options in pairs)
        named = [(f"{link.name}.{k}" if swept > 1 else k, v) for link, o in pairs for k, v in o]
        variants.append((DefenseSpec(links), tuple(named)))
    return variants


def _product(axes: dict[str, list[Any]]) -> list[Scenario]:
    names = list(axes)
    return [
        Scenario.from_dict(dict(zip(names, values, strict=True)))
        for values in itertools.product(*(axes[n] for n in names))
    ]


@dataclass(frozen=True)
class Grid:
    """One cross product: each field's list of values (a fixed value is a list of one); with
    ``tune``, each defense swept over its grid (``tuning_grid`` replaces a defense's own) and
    the swept ones also run on the ``tuning_seeds``."""

    name: str
    axes: dict[str, list[Any]]
    tune: bool = False
    tuning_seeds: tuple[int, ...] = ()
    tuning_grid: dict[str, dict[str, tuple[Any, ...]]] = field(default_factory=dict)

    @property
    def reported_seeds(self) -> list[int]:
        return self.axes.get("seed", [DEFAULT_SEED])

    def variants(self) -> dict[str, list[tuple[DefenseSpec, Setting]]]:
        """Each listed defense's settings, by its canonical text (none unless ``tune``)."""
        if not self.tune:
            return {}
        specs = [DefenseSpec.parse(text) for text in self.axes.get("defense", [])]
        return {str(spec): tuned_variants(spec, self.tuning_grid) for spec in specs}

    def scenarios(self) -> list[Scenario]:
        variants = self.variants()
        if not variants:
            return _product(self.axes)
        listed = [str(spec) for found in variants.values() for spec, _ in found]
        swept = [str(spec) for found in variants.values() if len(found) > 1 for spec, _ in found]
        scenarios = _product({**self.axes, "defense": list(dict.fromkeys(listed))})
        if swept and self.tuning_seeds:
            tuning = {**self.axes, "defense": swept, "seed": list(self.tuning_seeds)}
            scenarios += _product(tuning)
        return scenarios


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

    def tuning(self, grids: Sequence[str] | None = None) -> Tuning:
        """The selected grids' tuning seeds and the variants of each defense they sweep on them
        (empty for grids without ``tuning_seeds``: their variants are ranked side by side)."""
        seeds: set[int] = set()
        variants: dict[str, Variant] = {}
        for grid in self._selected(grids):
            swept = {tuned: found for tuned, found in grid.variants().items() if len(found) > 1}
            if not (grid.tuning_seeds and swept):
                continue
            seeds.update(grid.tuning_seeds)
            for tuned, found in swept.items():
                for spec, setting in found:
                    variants.setdefault(str(spec), Variant(tuned, setting))
        return Tuning(frozenset(seeds), variants)

    def problems(self, grids: Sequence[str] | None = None) -> dict[str, str]:
        """Component specs that name a component no registry has (a plugin not installed yet),
        by canonical text: ``{spec: "file:line: key = spec: why"}``. Only these can be
        skipped (``--skip-unknown``): an invalid option of a known component is refused
        when the file is read."""
        found = {}
        for grid in self._selected(grids):
            for name in COMPONENT_FIELDS:
                for value in grid.axes.get(name, []):
                    why = _unknown_name(name, value)
                    canonical = str(parse_spec(name, value))
                    if why is not None and canonical not in found:
                        where = _location(self.path, self.text, name)
                        found[canonical] = f"{where}: {name} = {value!r}: {why}"
        return found


def _location(path: Path, text: str, key: str) -> str:
    """``file:line`` of the first line that sets ``key`` (just ``file`` if none does)."""
    pattern = re.compile(rf"^[\s\ufeff]*[\"']?{re.escape(key)}[\"']?\s*=", re.MULTILINE)
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


Where = Callable[..., str]


def _build_problem(link: ComponentSpec) -> str | None:
    """Why building the registered defense ``link`` fails, else None (plugins are not built)."""
    if ":" in link.name:
        return None
    try:
        DEFENSES.create(link)
    except SpecError as err:
        return str(err).removeprefix(f"defense {link.name!r}: ")
    return None


def _links(spec: ComponentSpec | DefenseSpec) -> tuple[ComponentSpec, ...]:
    return spec.links if isinstance(spec, DefenseSpec) else (spec,)


def _unknown_name(kind: str, text: str) -> str | None:
    """Why a spec of ``kind`` names a component that no registry has (or whose entry point
    failed to load), else None; ``module:Class`` and ``file.py:Class`` plugins are imported
    only where they run, never here."""
    registry = registries()[kind]
    for link in _links(parse_spec(kind, text)):
        if ":" not in link.name and link.name not in registry.names():
            return registry.problem(link)
    return None


@cache
def _builtin_catalog(items: int) -> Catalog:
    return generate_catalog(items, seed=BUILTIN_CATALOG_SEED)


@cache
def _assumed_f(mode: str | int, shoppers: int, fraction: float, per_round: int) -> int:
    return AssumedF.of(mode, shoppers, round(fraction * shoppers), per_round).fixed


# The scenario fields that ``_contexts`` reads.
CONTEXT_FIELDS = (
    "seed",
    "shoppers",
    "clients_per_round",
    "malicious_fraction",
    "assumed_f",
    "catalog",
    "items",
)


# Every scenario's model has item rows, and checking a defense's options needs only that.
ANY_ITEM_ROWS = ItemRows(index=np.zeros((0, 1), dtype=np.int64), dense=np.zeros(0, np.int64))


def _contexts(scenario: Scenario) -> dict[str, dict[str, Any]]:
    """What ``build_world`` gives each kind of component of ``scenario``, without drawing its
    population: the assumed f is taken over all ``shoppers`` (a cell's population is those
    with a held-out purchase, plus any Sybils), and an Amazon catalog is not loaded."""
    per_round, fraction = scenario.clients_per_round, scenario.malicious_fraction
    server = {
        "n_malicious": _assumed_f(scenario.assumed_f, scenario.shoppers, fraction, per_round),
        "n_clients": per_round,
        "seed": scenario.seed,
    }
    catalog = _builtin_catalog(scenario.items) if scenario.catalog == "builtin" else None
    return {
        "attack": {
            "n_clients": per_round,
            "n_malicious": round(fraction * per_round),
            "seed": scenario.seed,
            "catalog": catalog,
            "item_rows": ANY_ITEM_ROWS,
        },
        "defense": server | {"item_rows": ANY_ITEM_ROWS},
        "strategy": server,
        "compression": {"seed": scenario.seed},
    }


def _component_problem(kind: str, link: ComponentSpec, context: dict[str, Any]) -> str | None:
    """Why a cell could not build the registered component ``link`` with ``context``, as
    ``fedarena run`` would say it, else None. Built-in components are built; entry-point
    ones only have their options checked, their code running only in the cells' sandboxes
    (as a plugin's does); a name no registry has is ``Matrix.problems``'s."""
    registry = registries()[kind]
    if ":" in link.name or link.name not in registry.names():
        return None
    if registry.origins()[link.name].startswith("entry point"):
        return registry.problem(link)
    try:
        registry.create(link, **context)
    except SpecError as err:
        return str(err)
    return None


def _check_components(grid: Grid, scenarios: list[Scenario], where: Where) -> None:
    """Build every registered component of ``grid``'s ``scenarios`` as their cells would
    (each spec once per context), so that an invalid option is refused before any runs."""
    written = {
        kind: {str(parse_spec(kind, text)): text for text in grid.axes.get(kind, [])}
        for kind in COMPONENT_FIELDS
    }
    seen: set[tuple[Any, ...]] = set()
    for scenario in scenarios:
        contexts = _contexts(scenario)
        basis = tuple(getattr(scenario, name) for name in CONTEXT_FIELDS)
        for kind in COMPONENT_FIELDS:
            spec = getattr(scenario, kind)
            for link in _links(spec):
                if (kind, str(link), basis) in seen:
                    continue
                seen.add((kind, str(link), basis))
                why = _component_problem(kind, link, contexts[kind])
                if why is not None:
                    text = written[kind].get(str(spec), str(spec))
                    raise SpecError(f"{where(kind)}: grid {grid.name!r}: {kind} = {text!r}: {why}")


def _fields_named(message: str) -> list[str]:
    """The scenario fields a message names, in the order it names them."""
    found = {name: m.start() for name in FIELD_TYPES if (m := re.search(rf"\b{name}\b", message))}
    return sorted(found, key=found.__getitem__)


def _tuning_grid(where: Where, value: Any) -> dict[str, dict[str, tuple[Any, ...]]]:
    """A file's ``[tuning_grid]``: defense name -> option -> values, each value checked by
    building the defense with it."""
    shape = "tuning_grid must be a table of defense = {option = [values, ...]}"
    if not isinstance(value, dict):
        raise SpecError(f"{where('tuning_grid')}: {shape}")
    grids = {}
    for name, options in value.items():
        if not isinstance(options, dict) or not options:
            raise SpecError(f"{where(name, 'tuning_grid')}: {shape}")
        grid = {}
        for option, values in options.items():
            values = values if isinstance(values, list) else [values]
            here = where(option, name, "tuning_grid")
            if not values:
                raise SpecError(f"{here}: tuning_grid: {name} {option} is an empty list")
            if any(values.count(v) > 1 for v in values):
                raise SpecError(f"{here}: tuning_grid: {name} {option} lists a value twice")
            for v in values:
                spec = ComponentSpec(name, {option: v})
                why = _build_problem(spec)
                if why is not None:
                    raise SpecError(f"{here}: tuning_grid: {spec}: {why}")
            grid[option] = tuple(values)
        grids[name] = grid
    return grids


def _tuning_options(where: Where, table: dict[str, Any]) -> dict[str, Any]:
    """Pop and check ``tune``, ``tuning_seeds`` and ``tuning_grid`` of the top level or of one
    grid."""
    found: dict[str, Any] = {}
    if "tune" in table:
        found["tune"] = table.pop("tune")
        if not isinstance(found["tune"], bool):
            raise SpecError(f"{where('tune')}: tune must be true or false, got {found['tune']!r}")
    if "tuning_seeds" in table:
        seeds = table.pop("tuning_seeds")
        seeds = seeds if isinstance(seeds, list) else [seeds]
        if not seeds or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
            raise SpecError(
                f"{where('tuning_seeds')}: tuning_seeds must be a non-empty list of integers, "
                f"got {seeds!r}"
            )
        if len(set(seeds)) < len(seeds):
            raise SpecError(f"{where('tuning_seeds')}: tuning_seeds lists a seed twice")
        found["tuning_seeds"] = tuple(seeds)
    if "tuning_grid" in table:
        found["tuning_grid"] = _tuning_grid(where, table.pop("tuning_grid"))
    return found


def _check_tuning(grids: list[Grid], given: set[str], where: Where) -> None:
    """Tuning keys only with ``tune``; tuning seeds that no grid reports; settings that build;
    no cell defense that two listed defenses both give."""
    if given - {"tune"} and not any(g.tune for g in grids):
        key = sorted(given - {"tune"})[0]
        raise SpecError(f"{where(key)}: {key} has no effect without tune = true")
    reported = {seed: g.name for g in reversed(grids) for seed in g.reported_seeds}
    for grid in grids:
        overlap = [s for s in grid.tuning_seeds if s in reported] if grid.tune else []
        if overlap:
            raise SpecError(
                f"{where('tuning_seeds')}: grid {grid.name!r}: tuning seed {overlap[0]} is also "
                f"a reported seed (seed of grid {reported[overlap[0]]!r}); a setting must be "
                "chosen on seeds that are not reported"
            )
        owner: dict[str, str] = {}
        for tuned, found in grid.variants().items():
            links = DefenseSpec.parse(tuned).links
            for variant, setting in found:
                for link, swept in zip(links, variant.links, strict=True):
                    if swept == link or _build_problem(link) is not None:
                        continue
                    why = _build_problem(swept)
                    if why is not None:
                        options = ", ".join(f"{k}={v!r}" for k, v in setting)
                        raise SpecError(
                            f"{where('tune')}: grid {grid.name!r}: tuning defense {tuned!r} "
                            f"at {options}: {why}"
                        )
                if owner.setdefault(str(variant), tuned) != tuned:
                    raise SpecError(
                        f"{where('defense')}: grid {grid.name!r}: tuning {owner[str(variant)]!r} "
                        f"and {tuned!r} both give defense {str(variant)!r}; list one of them"
                    )


def parse_matrix(text: str, path: Path) -> Matrix:
    """Validate a scenario file's text; errors are one line naming the file, line and key.

    A UTF-8 byte-order mark (some editors write one) is ignored. A file that sets no field
    is refused: it would run one cell of the defaults, which is never what was meant.
    """
    try:
        document = tomllib.loads(text.removeprefix("\ufeff"))
    except tomllib.TOMLDecodeError as err:
        raise SpecError(f"{path}: invalid TOML: {err}") from None
    except RecursionError:  # tomllib recurses once per nested array or table
        raise SpecError(f"{path}: invalid TOML: arrays or tables nested too deeply") from None
    return matrix_from_document(document, path, text)


def matrix_from_document(document: dict[str, Any], path: Path, text: str = "") -> Matrix:
    """Validate a scenario file's contents, read (``parse_matrix``) or given as a dict of the
    same shape (``fedarena.run_matrix``); ``text``, when there is one, places errors on lines."""
    document = dict(document)

    def where(*keys: str) -> str:
        """The line of the first of ``keys`` that the file sets (the file alone if none)."""
        found = (_location(path, text, key) for key in keys)
        return next((place for place in found if place != str(path)), str(path))

    description = document.pop("description", "")
    if not isinstance(description, str):
        raise SpecError(f"{where('description')}: description must be a string")
    if not document:
        what = "empty scenario file" if not text.strip() else "scenario file sets no field"
        raise SpecError(f"{path}: {what}: set at least one field, e.g. rounds = 30")
    grid_tables = document.pop("grid", [{"name": path.stem}])
    if not isinstance(grid_tables, list) or not grid_tables:
        raise SpecError(f"{where('grid')}: grid must be [[grid]] tables with a name each")
    shared_tuning = _tuning_options(where, document)
    given = set(shared_tuning)
    shared = {key: _axis(where, key, value) for key, value in document.items()}
    grids: list[Grid] = []
    expanded: list[list[Scenario]] = []  # each grid's scenarios
    for number, table in enumerate(grid_tables, start=1):
        if not isinstance(table, dict):
            raise SpecError(f"{where('grid')}: grid must be [[grid]] tables with a name each")
        table = dict(table)
        name = table.pop("name", None)
        if not isinstance(name, str) or not name:
            raise SpecError(f'{path}: [[grid]] number {number} needs a name = "..."')
        if name in [g.name for g in grids]:
            raise SpecError(f"{path}: two grids are named {name!r}")
        own_tuning = _tuning_options(where, table)
        given |= set(own_tuning)
        tuning = shared_tuning | own_tuning
        tuning["tuning_grid"] = shared_tuning.get("tuning_grid", {}) | own_tuning.get(
            "tuning_grid", {}
        )
        axes = shared | {key: _axis(where, key, value) for key, value in table.items()}
        grid = Grid(name, axes, **tuning)
        try:
            expanded.append(grid.scenarios())
            for scenario in expanded[-1]:
                if scenario.catalog == "builtin":
                    check_catalog_size(scenario.items)
        except FedarenaError as err:
            raise SpecError(f"{where(*_fields_named(str(err)))}: grid {name!r}: {err}") from None
        grids.append(grid)
    _check_tuning(grids, given, where)
    for grid, scenarios in zip(grids, expanded, strict=True):
        _check_components(grid, scenarios, where)
    return Matrix(path=path, description=description, grids=tuple(grids), text=text)


def load_matrix(path: Path) -> Matrix:
    """Read and validate a scenario file (see the module docstring for its format), and each
    Amazon catalog it names as ``fedarena run`` would (``check_amazon``: the first rows)."""
    try:
        if not path.is_file():
            raise FedarenaError(f"{shown_path(path)}: no such scenario file")
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise os_error(path, err, "cannot read the scenario file") from None
    except UnicodeDecodeError as err:
        raise FedarenaError(f"{shown_path(path)}: not UTF-8 text (byte {err.start})") from None
    return check_catalogs(parse_matrix(text, path))


def check_catalogs(matrix: Matrix) -> Matrix:
    """``matrix``, once each Amazon catalog it names reads as ``fedarena run`` would read it
    (``check_amazon``: the first rows of each file), and each interaction log it names
    loads (``load_log``, whole: a bad line anywhere would fail every cell)."""
    catalogs = {c for grid in matrix.grids for c in grid.axes.get("catalog", [])}
    for catalog in sorted(catalogs - {"builtin"}):
        try:
            check_amazon(catalog)
        except DataError as err:
            where = _location(matrix.path, matrix.text, "catalog")
            raise SpecError(f"{where}: catalog: {err}") from None
    logs = {p for grid in matrix.grids for p in grid.axes.get("population", [])}
    for log in sorted(logs - {SHOP}):
        try:
            load_log(log)
        except DataError as err:
            where = _location(matrix.path, matrix.text, "population")
            raise SpecError(f"{where}: population: {err}") from None
    return matrix
