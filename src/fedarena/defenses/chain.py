"""Defense chains: ``norm_clip(max_norm=1) > bucketing(s=2) > krum``, composed left to right.

Every link but the last is a pre-aggregator (it has ``preaggregate``: clipping,
bucketing, mixing) or a client-side part (it has ``client_trainer``: DP-SGD,
whose own server side the chain does not use); the last link aggregates. The
chain passes the updates through the pre-aggregators in order, lets the last
link aggregate what comes out, and maps its verdict on the rows back to the
clients who formed them. A chain exposes its links' optional parts
(``client_trainer``, ``privacy``, ``root_shoppers``) as its own; at most one
link may train clients and at most one may account privacy.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import torch
from torch import Tensor

from fedarena.defenses.base import (
    DEFENSES,
    Aggregate,
    PreAggregator,
    RoundContext,
    name_of,
    rows_to_clients,
)
from fedarena.errors import SpecError


def preaggregator_names() -> list[str]:
    """The registered defenses that can stand before an aggregator in a chain."""
    return [
        name
        for name in DEFENSES.names()
        if isinstance(factory := DEFENSES.factory(name), type)
        and (issubclass(factory, PreAggregator) or hasattr(factory, "client_trainer"))
    ]


class Chain:
    """Pre-aggregators and client-side parts in front of one aggregator."""

    def __init__(self, links: list[Any], spec: str) -> None:
        *front, last = links
        if not hasattr(last, "aggregate"):
            raise SpecError(f"defense {spec!r}: the last link {name_of(last)} cannot aggregate")
        for link in front:
            if not (hasattr(link, "preaggregate") or hasattr(link, "client_trainer")):
                raise SpecError(
                    f"defense {spec!r}: {name_of(link)} aggregates, so it can only be the last "
                    f"link; before it may stand: {', '.join(preaggregator_names())}"
                )
        self.spec = spec
        self.preaggregators = [link for link in front if hasattr(link, "preaggregate")]
        self.aggregator = last
        trainers = [link for link in links if hasattr(link, "client_trainer")]
        accountants = [link for link in links if hasattr(link, "privacy")]
        for role, holders in (("trains clients", trainers), ("accounts privacy", accountants)):
            if len(holders) > 1:
                names = " and ".join(name_of(link) for link in holders)
                raise SpecError(f"defense {spec!r}: only one link may be one that {role}: {names}")
        if trainers:
            self.client_trainer = trainers[0].client_trainer
        if accountants:
            self.privacy = accountants[0].privacy
        root = max(int(getattr(link, "root_shoppers", 0)) for link in links)
        if root:
            self.root_shoppers = root

    def __repr__(self) -> str:
        return f"Chain({self.spec!r})"

    def check(self, n: int, n_malicious: int) -> None:
        """Check each link's requirement on the number of rows it will receive."""
        rows = n
        for link in [*self.preaggregators, self.aggregator]:
            if hasattr(link, "check"):
                try:
                    link.check(rows, n_malicious)
                except ValueError as err:
                    if rows == n:
                        raise
                    raise ValueError(f"{err} (the rows left of {n} updates)") from None
            rows = link.rows_out(rows) if hasattr(link, "rows_out") else rows

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
        return Aggregate(result.update, accepted, diagnostics | result.diagnostics)


def _context_for_rows(ctx: RoundContext, source: Tensor | None, rows: int) -> RoundContext:
    """The context for the next link: dropped clients count against f, and a row keeps its
    client's id when it carries exactly one client (a bucket of several gets id -1 - row)."""
    if source is None:
        return ctx
    kept = source >= 0
    ids = -1 - np.arange(rows)
    carried = torch.bincount(source[kept], minlength=rows)
    single = (carried[source.clamp_min(0)] == 1) & kept
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
