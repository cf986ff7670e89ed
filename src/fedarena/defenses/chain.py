"""Defense chains: ``norm_clip(max_norm=1) > bucketing(s=2) > krum``, composed left to right.

Every link but the last is a pre-aggregator (it has ``preaggregate``: clipping,
bucketing, mixing) or a client-side part (it has ``client_trainer``: DP-SGD,
whose own server side the chain does not use); the last link aggregates. The
chain passes the updates through the pre-aggregators in order, lets the last
link aggregate what comes out, and maps its verdict and its suspicion scores on
the rows back to the clients who formed them. A chain exposes its links' optional parts
(``ClientSide``, ``PrivacyAccounting``, ``UsesRootSet``, see
``fedarena.defenses.base``) as its own; at most one link may train clients and
at most one may account privacy.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import Tensor

from fedarena.defenses.base import (
    DEFENSES,
    Aggregate,
    ClientSide,
    Defense,
    HasRequirement,
    PreAggregator,
    PrivacyAccounting,
    RoundContext,
    UsesRootSet,
    aggregate_by_hand,
    name_of,
    rows_to_clients,
)
from fedarena.errors import SpecError
from fedarena.registry import ComponentSpec

_OPENING, _CLOSING, _QUOTES = "([{", ")]}", "'\""


def split_chain(spec: str) -> list[str]:
    """The links of ``a(x=1) > b``: split at each ``>`` outside brackets and quotes."""
    links, current, depth, quote = [], [], 0, ""
    for char in spec:
        if quote:
            quote = "" if char == quote else quote
        elif char in _QUOTES:
            quote = char
        elif char in _OPENING:
            depth += 1
        elif char in _CLOSING:
            depth -= 1
        elif char == ">" and depth == 0:
            links.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    links.append("".join(current).strip())
    if not all(links):
        raise SpecError(
            f"defense {spec!r}: empty link; separate links by '>', "
            "as in norm_clip(max_norm=1) > trimmed_mean(beta=0.1)"
        )
    return links


@dataclass(frozen=True)
class DefenseSpec:
    """A parsed defense: one component, or a chain ``a(x=1) > b`` of them.

    >>> str(DefenseSpec.parse("norm_clip( max_norm = 1 )>krum"))
    'norm_clip(max_norm=1) > krum'
    """

    links: tuple[ComponentSpec, ...]

    @classmethod
    def parse(cls, text: str | DefenseSpec) -> DefenseSpec:
        """``text`` parsed (a spec is returned as it is); ``SpecError`` naming what is wrong."""
        if isinstance(text, DefenseSpec):
            return text
        return cls(tuple(ComponentSpec.parse(link) for link in split_chain(text)))

    def __str__(self) -> str:
        return " > ".join(map(str, self.links))

    def __repr__(self) -> str:
        return f"DefenseSpec({str(self)!r})"

    @property
    def name(self) -> str:
        """The name of the last link, the one that aggregates."""
        return self.links[-1].name

    def with_options(self, **options: Any) -> DefenseSpec:
        """The chain with ``options`` set on its last link (``--defense-opt``)."""
        return DefenseSpec((*self.links[:-1], self.links[-1].with_options(**options)))

    @property
    def plugin_files(self) -> list[str]:
        """The files the links' ``path/to/file.py:Class`` names import."""
        return [link.plugin_file for link in self.links if link.plugin_file]


def preaggregator_names() -> list[str]:
    """The registered defenses that can stand before an aggregator in a chain."""
    return [
        name
        for name in DEFENSES.names()
        if isinstance(factory := DEFENSES.factory(name), type)
        and (issubclass(factory, PreAggregator) or issubclass(factory, ClientSide))
    ]


class Chain:
    """Pre-aggregators and client-side parts in front of one aggregator."""

    def __init__(self, links: list[Any], spec: str) -> None:
        *front, last = links
        if not isinstance(last, Defense):
            raise SpecError(f"defense {spec!r}: the last link {name_of(last)} cannot aggregate")
        for link in front:
            if not isinstance(link, PreAggregator | ClientSide):
                raise SpecError(
                    f"defense {spec!r}: {name_of(link)} aggregates, so it can only be the last "
                    f"link; before it may stand: {', '.join(preaggregator_names())}"
                )
        self.spec = spec
        self.preaggregators = [link for link in front if isinstance(link, PreAggregator)]
        self.aggregator = last
        trainers = [link for link in links if isinstance(link, ClientSide)]
        accountants = [link for link in links if isinstance(link, PrivacyAccounting)]
        for role, holders in (("trains clients", trainers), ("accounts privacy", accountants)):
            if len(holders) > 1:
                names = " and ".join(name_of(link) for link in holders)
                raise SpecError(f"defense {spec!r}: only one link may be one that {role}: {names}")
        if trainers:
            self.client_trainer = trainers[0].client_trainer
        if accountants:
            self.accountant = accountants[0].accountant
        root = max(link.root_shoppers if isinstance(link, UsesRootSet) else 0 for link in links)
        if root:
            self.root_shoppers = root

    def __repr__(self) -> str:
        return f"Chain({self.spec!r})"

    def check(self, n: int, n_malicious: int) -> None:
        """Check each link's requirement on the number of rows it will receive."""
        rows = n
        for link in [*self.preaggregators, self.aggregator]:
            if isinstance(link, HasRequirement):
                try:
                    link.check(rows, n_malicious)
                except ValueError as err:
                    if rows == n:
                        raise
                    raise ValueError(f"{err} (the rows left of {n} updates)") from None
            rows = link.rows_out(rows) if isinstance(link, PreAggregator) else rows

    def __call__(self, vectors: Any, weights: Any = None, f: int = 0, seed: int = 0) -> Any:
        """The aggregate of ``vectors``, by hand (``fedarena.defenses.base.aggregate_by_hand``)."""
        return aggregate_by_hand(self, vectors, weights, f, seed)

    def aggregate(self, updates: Tensor, weights: Tensor, ctx: RoundContext) -> Aggregate:
        source: Tensor | None = None
        diagnostics: dict[str, float] = {}
        for link in self.preaggregators:
            out = link.preaggregate(updates, weights, ctx)
            ctx = _context_for_rows(ctx, out.source, len(out.updates))
            source = _compose(source, out.source)
            updates, weights = out.updates, out.weights
            diagnostics |= {f"{name_of(link)}.{k}": v for k, v in out.diagnostics.items()}
        result = self.aggregator.aggregate(updates, weights, ctx)
        accepted = rows_to_clients(source, result.accepted)
        suspicion = _suspicion_of_clients(source, result.suspicion)
        return Aggregate(result.update, accepted, diagnostics | result.diagnostics, suspicion)


def _suspicion_of_clients(source: Tensor | None, rows: Tensor | None) -> Tensor | None:
    """The last link's suspicion of the rows, as the clients' suspicion: a client shares its
    row's score (a bucket's members share the bucket's), and one dropped on the way is +inf."""
    if source is None or rows is None:
        return rows
    suspicion = torch.full((len(source),), float("inf"), dtype=torch.float64)
    kept = source >= 0
    suspicion[kept] = rows.double()[source[kept]]
    return suspicion


def _context_for_rows(ctx: RoundContext, source: Tensor | None, rows: int) -> RoundContext:
    """The context for the next link: dropped clients count against f, and a row keeps its
    client's id when it carries exactly one client (a bucket of several gets id -1 - row)."""
    if source is None:
        return ctx
    kept = source >= 0
    ids = -1 - np.arange(rows)
    carried = torch.bincount(source[kept], minlength=rows)
    single = kept.clone()
    single[kept] = carried[source[kept]] == 1
    ids[source[single].numpy()] = np.asarray(ctx.client_ids)[single.numpy()]
    dropped = int((~kept).sum())
    return replace(ctx, n_malicious=max(0, ctx.n_malicious - dropped), client_ids=ids)


def _compose(first: Tensor | None, second: Tensor | None) -> Tensor | None:
    """Client -> row maps of two pre-aggregators applied one after the other."""
    if second is None:
        return first
    if first is None:
        return second
    composed = torch.full_like(first, -1)
    kept = first >= 0
    composed[kept] = second[first[kept]]
    return composed
