"""Every registered component, per kind, with its options and where it came from.

Built-in components come from fedarena's own modules; third-party ones from
the entry-point groups ``fedarena.attacks``, ``fedarena.defenses``,
``fedarena.strategies`` and ``fedarena.compression`` of installed
distributions. An entry point whose name is already taken (by a built-in or
an earlier distribution) is listed too, as ignored, so that a shadowed plugin
is not a silent surprise.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from fedarena.defenses.chain import DefenseSpec
from fedarena.errors import SpecError
from fedarena.registry import ComponentSpec, Registry, accepted_options


def registries() -> dict[str, Registry[Any]]:
    """Kind -> registry, in the order a scenario names them."""
    from fedarena.attacks import ATTACKS
    from fedarena.compression import COMPRESSORS
    from fedarena.defenses import DEFENSES
    from fedarena.strategies import STRATEGIES

    return {
        "attack": ATTACKS,
        "defense": DEFENSES,
        "strategy": STRATEGIES,
        "compression": COMPRESSORS,
    }


@dataclass(frozen=True)
class Component:
    """One registered name: its kind, its options and its origin (module or distribution)."""

    kind: str
    name: str
    options: tuple[str, ...]
    origin: str
    active: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "options": list(self.options),
            "origin": self.origin,
            "active": self.active,
        }


def _distribution(ep: EntryPoint) -> str:
    dist = ep.dist
    where = f"{dist.name} {dist.version}" if dist is not None else "an unknown distribution"
    return f"entry point {ep.value} of {where}"


def components(kinds: list[str] | None = None) -> list[Component]:
    """The registered components of ``kinds`` (default: all), built-ins and entry points."""
    found = []
    for kind, registry in registries().items():
        if kinds and kind not in kinds:
            continue
        origins = registry.origins()
        broken = registry.broken()
        points = entry_points(group=registry.group)
        by_value = {f"entry point {ep.value}": ep for ep in points}
        for name, origin in origins.items():
            options = (*accepted_options(registry.factory(name)), *registry.shared)
            shown = _distribution(by_value[origin]) if origin in by_value else origin
            found.append(Component(kind, name, options, shown))
        for ep in points:
            taken = origins.get(ep.name)
            if taken != f"entry point {ep.value}":
                why = f"ignored, the name is taken ({taken})" if taken else "not loaded"
                why = broken.get(ep.name, why).removeprefix(f"entry point {ep.value} ")
                found.append(Component(kind, ep.name, (), f"{_distribution(ep)}: {why}", False))
    return found


def parse_spec(kind: str, text: str | ComponentSpec | DefenseSpec) -> ComponentSpec | DefenseSpec:
    """A component spec of ``kind`` parsed (a defense may be a chain); ``SpecError`` if bad."""
    return DefenseSpec.parse(text) if kind == "defense" else ComponentSpec.parse(text)


def spec_problem(kind: str, text: str | ComponentSpec | DefenseSpec) -> str | None:
    """Why the registry of ``kind`` would reject this spec by syntax, name or option, else
    None; plugins (``module:Class``, ``file.py:Class``) are not imported here."""
    try:
        spec = parse_spec(kind, text)
    except SpecError as err:
        return str(err)
    links = spec.links if isinstance(spec, DefenseSpec) else (spec,)
    registry = registries()[kind]
    return next((why for link in links if (why := registry.problem(link))), None)
