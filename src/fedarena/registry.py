"""Find attacks, defenses and strategies by name, entry point or ``path:Class``.

A component spec is ``name`` or ``name(key=value, ...)`` where values are
Python literals (numbers, strings, booleans, lists) or bare words taken as
strings: ``trimmed_mean(beta=0.1)``, ``fedavg_plus(server_opt=adam)``. The name
may also be ``package.module:ClassName`` or ``path/to/file.py:ClassName``;
third-party packages register through the entry-point groups
``fedarena.attacks``, ``fedarena.defenses`` and ``fedarena.strategies``.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import importlib.util
import inspect
import pkgutil
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Generic, TypeVar

from fedarena.errors import SpecError
from fedarena.options import MAX_MAGNITUDE, out_of_range

T = TypeVar("T")

_SPEC = re.compile(r"^\s*(?P<name>[^\s(]+)\s*(?:\((?P<args>.*)\))?\s*$", re.DOTALL)


@dataclass(frozen=True, eq=False)
class ComponentSpec:
    """A parsed ``name(key=value, ...)``: what a scenario names, parsed once where it is set.

    ``str`` gives its one canonical text (options sorted, values as Python
    literals), which is what results store and cell keys hash.

    >>> ComponentSpec.parse("trimmed_mean( beta = 0.1 )")
    ComponentSpec('trimmed_mean(beta=0.1)')
    """

    name: str
    options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str | ComponentSpec) -> ComponentSpec:
        """``text`` parsed (a spec is returned as it is); ``SpecError`` naming what is wrong."""
        return text if isinstance(text, ComponentSpec) else parse_component(text)

    def __str__(self) -> str:
        if not self.options:
            return self.name
        args = ", ".join(f"{k}={v!r}" for k, v in sorted(self.options.items()))
        return f"{self.name}({args})"

    def __repr__(self) -> str:
        return f"ComponentSpec({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        """Equal when their canonical texts are (``x=1`` and ``x=1.0`` are different cells)."""
        return isinstance(other, ComponentSpec) and str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))

    def with_options(self, **options: Any) -> ComponentSpec:
        """The same component with ``options`` set (``--attack-opt`` and friends)."""
        return ComponentSpec(self.name, {**self.options, **options})

    @property
    def plugin_file(self) -> str | None:
        """The file a ``path/to/file.py:Class`` spec imports, else None."""
        target = self.name.rpartition(":")[0]
        return target if target.endswith(".py") else None


# TOML's and JSON's spellings of the booleans, as scenario files and flags write them.
BARE_BOOLEANS = {"true": True, "false": False}


def _literal(node: ast.expr, text: str) -> Any:
    if isinstance(node, ast.Name):
        return BARE_BOOLEANS.get(node.id, node.id)
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, RecursionError):
        raise SpecError(
            f"{text!r}: option value {ast.unparse(node)!r} is not a number, string, boolean or list"
        ) from None


def parse_component(text: str) -> ComponentSpec:
    """Parse ``name(key=value, ...)``; raise ``SpecError`` naming what is wrong."""
    match = _SPEC.match(text)
    if not match:
        raise SpecError(f"{text!r} is not of the form name or name(key=value, ...)")
    name, args = match["name"], match["args"]
    if not args or not args.strip():
        return ComponentSpec(name)
    try:
        call = ast.parse(f"f({args})", mode="eval").body
    except SyntaxError:
        raise SpecError(f"{text!r}: options must be key=value pairs separated by commas") from None
    # `args` may itself close and reopen the call, as in 'krum(f=1)(g=2)': only f(...) is one.
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)):
        raise SpecError(f"{text!r} is not of the form name or name(key=value, ...)")
    if call.args:
        raise SpecError(f"{text!r}: options must be named, as in {name}(key=value)")
    options: dict[str, Any] = {}
    for keyword in call.keywords:
        if keyword.arg is None:
            raise SpecError(
                f"{text!r}: options must be key=value, not **{ast.unparse(keyword.value)}"
            )
        if keyword.arg in options:
            raise SpecError(f"{text!r}: option {keyword.arg} is given twice")
        options[keyword.arg] = _literal(keyword.value, text)
    return ComponentSpec(name, options)


def parse_option(text: str) -> tuple[str, Any]:
    """Parse one ``key=value`` flag (``--attack-opt gamma=10``); bare words stay strings, but
    ``true`` and ``false`` are booleans."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise SpecError(f"option {text!r} must be key=value")
    if value.strip() in BARE_BOOLEANS:
        return key.strip(), BARE_BOOLEANS[value.strip()]
    try:
        return key.strip(), ast.literal_eval(value.strip())
    except (ValueError, TypeError, SyntaxError, RecursionError):
        return key.strip(), value.strip()


def _load_object(ref: str, kind: str) -> Any:
    """Import ``module:attr`` or ``path/to/file.py:attr``."""
    target, _, attr = ref.rpartition(":")
    if target.endswith(".py"):
        path = Path(target)
        if not path.is_file():
            raise SpecError(f"{kind} {ref!r}: file {target} does not exist")
        digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
        module_name = f"fedarena_plugin_{path.stem}_{digest}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise SpecError(f"{kind} {ref!r}: cannot import {target}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as err:
            raise SpecError(f"{kind} {ref!r}: cannot import module {target}: {err}") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise SpecError(f"{kind} {ref!r}: {target} has no attribute {attr!r}") from None


class Registry(Generic[T]):
    """Name -> factory for one kind of component, plus entry points and import paths.

    Built-in components are the modules of ``package``: each registers itself
    with the decorator on import, so adding one means adding one file.
    ``shared`` are options that every component of the kind takes (an attack's
    ``report_examples``): each maps to its check, which returns the value to set
    as the created object's attribute of that name; factories never see them.
    """

    def __init__(
        self,
        kind: str,
        group: str,
        package: str,
        shared: dict[str, Callable[[Any], Any]] | None = None,
    ) -> None:
        self.kind = kind
        self.group = group
        self.shared = dict(shared or {})
        self._package = package
        self._factories: dict[str, Callable[..., T]] = {}
        self._origins: dict[str, str] = {}
        self._broken: dict[str, str] = {}
        self._loaded = False

    def register(self, name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator: ``@ATTACKS.register("label_flip")``."""

        def decorate(factory: Callable[..., T]) -> Callable[..., T]:
            if name in self._factories and self._factories[name] is not factory:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._factories[name] = factory
            self._origins[name] = factory.__module__
            factory.registered_name = name  # type: ignore[attr-defined]
            return factory

        return decorate

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        package = importlib.import_module(self._package)
        for info in pkgutil.iter_modules(package.__path__, prefix=f"{self._package}."):
            importlib.import_module(info.name)
        for ep in entry_points(group=self.group):
            if ep.name in self._factories or ep.name in self._broken:
                continue
            try:
                self._factories[ep.name] = ep.load()
            except Exception as err:  # a broken third-party package must not break every command
                self._broken[ep.name] = f"entry point {ep.value} failed to load: {err!r}"
                continue
            self._origins[ep.name] = f"entry point {ep.value}"

    def names(self) -> list[str]:
        self._load()
        return sorted(self._factories)

    def origins(self) -> dict[str, str]:
        self._load()
        return dict(sorted(self._origins.items()))

    def broken(self) -> dict[str, str]:
        """Entry points that failed to import, with the error (``fedarena list`` shows them)."""
        self._load()
        return dict(sorted(self._broken.items()))

    def factory(self, name: str) -> Callable[..., T]:
        """The class or function registered as ``name`` (or imported from ``a:B``)."""
        self._load()
        if ":" in name:
            return _load_object(name, self.kind)
        if name in self._broken:
            raise SpecError(f"{self.kind} {name!r}: {self._broken[name]}")
        if name not in self._factories:
            raise SpecError(
                f"unknown {self.kind} {name!r}; known: {', '.join(self.names())} "
                "(or give module:Class / path/file.py:Class)"
            )
        return self._factories[name]

    def problem(self, spec: ComponentSpec) -> str | None:
        """Why ``create`` would reject ``spec`` by its name or options, else None.

        Only registered names are looked up: ``module:Class`` and
        ``file.py:Class`` plugins are imported where they run, never here.
        """
        if ":" in spec.name:
            return None
        self._load()
        if spec.name in self._broken:
            return f"{self.kind} {spec.name!r}: {self._broken[spec.name]}"
        if spec.name not in self._factories:
            return (
                f"unknown {self.kind} {spec.name!r}; known: {', '.join(self.names())} "
                "(or give module:Class / path/file.py:Class)"
            )
        return self._option_problem(spec, self._factories[spec.name])

    def _option_problem(self, spec: ComponentSpec, factory: Callable[..., T]) -> str | None:
        params = [*accepted_options(factory), *self.shared]
        unknown = sorted(set(spec.options) - set(params))
        if not unknown:
            for option, value in sorted(spec.options.items()):
                bad = out_of_range(value)
                if bad is not None:
                    return (
                        f"{self.kind} {spec.name!r}: {option} = {bad!r} is out of range: "
                        f"numbers must be finite, of magnitude <= {MAX_MAGNITUDE:g}"
                    )
            return None
        return (
            f"{self.kind} {spec.name!r} takes no option {', '.join(unknown)}; "
            f"its options: {', '.join(params) or 'none'}"
        )

    def create(self, spec: str | ComponentSpec, **context: Any) -> T:
        """Instantiate from a spec; unknown options raise ``SpecError`` listing the valid ones.

        ``context`` holds scenario values (such as ``n_malicious``) that a
        factory receives only when its signature names them.
        """
        spec = ComponentSpec.parse(spec)
        factory = self.factory(spec.name)
        problem = self._option_problem(spec, factory)
        if problem is not None:
            raise SpecError(problem)
        signature = inspect.signature(factory)
        extra = {k: v for k, v in context.items() if k in signature.parameters}
        own = {k: v for k, v in spec.options.items() if k not in self.shared}
        try:
            shared = {k: self.shared[k](v) for k, v in spec.options.items() if k in self.shared}
            created = factory(**extra, **own)
        except (ValueError, TypeError) as err:
            raise SpecError(f"{self.kind} {spec.name!r}: {err}") from None
        for name, value in shared.items():
            setattr(created, name, value)
        return created


CONTEXT_PARAMETERS = frozenset(
    {"n_malicious", "n_clients", "seed", "catalog", "population", "item_rows", "model"}
)


def accepted_options(factory: Callable[..., Any]) -> list[str]:
    """The user-settable keyword options of a factory (scenario context excluded)."""
    return [
        name
        for name, p in inspect.signature(factory).parameters.items()
        if name not in CONTEXT_PARAMETERS and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]


def option_defaults(factory: Callable[..., Any]) -> dict[str, str]:
    """Each user-settable option with its default as a spec writes it (``repr``), or
    ``"required"`` where it has none (``fedarena list``)."""
    parameters = inspect.signature(factory).parameters
    return {
        name: "required"
        if parameters[name].default is inspect.Parameter.empty
        else repr(parameters[name].default)
        for name in accepted_options(factory)
    }


def summary(factory: Callable[..., Any]) -> str:
    """The first paragraph of the factory's own docstring as one line, ``""`` without one
    (``fedarena list``); a docstring its base class has is not this factory's."""
    doc = inspect.cleandoc(factory.__doc__ or "")
    return " ".join(doc.split("\n\n")[0].split())
