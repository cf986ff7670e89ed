"""The conformance checks of a defense, each run on synthetic rounds inside a sandbox.

Each check builds the defense from its spec (as the engine does, with the
round's number of clients and assumed malicious count ``f = n / 5``), calls
``aggregate`` on synthetic updates and returns a ``Verdict``: passed, or one
sentence saying what is wrong and what the contract wants instead. They run in
a child process with time and memory limits (``fedarena.submission.conformance``);
an allocation failure is left to propagate so that the sandbox names the
memory limit.

The synthetic round: n updates of dimension d around a common direction,
with unequal scales, the first f of them ten times larger (outliers);
weights are sample counts in [20, 80); client ids are arbitrary integers;
the global model is small noise; FLTrust-style rules get the benign mean as
the server's own update.
"""

from __future__ import annotations

import hashlib
import inspect
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from fedarena.defenses import (
    DEFENSES,
    Aggregate,
    Defense,
    DefenseSpec,
    RoundContext,
    create_defense,
)
from fedarena.errors import SpecError
from fedarena.model import ItemRows
from fedarena.sandbox.limits import one_line, out_of_memory

N, D = 20, 1000
ODD_SIZES = ((N, D), (7, 13))
RUNTIME_N, RUNTIME_D = 100, 100_000
DRAWS = 32  # generator seeds over which a randomised rule's outputs are compared
Z_DRAWS = 6.0  # a difference of means beyond 6 standard errors is not chance, even over d
NONFINITE_ROWS = {5: float("nan"), 9: float("inf"), 13: float("-inf")}
# An aggregate larger than this many times every input is absurd (3e38 everywhere, say); noise
# of a DP rule at its tuned settings stays far below it on the synthetic round.
ABSURD_FACTOR = 100.0


class CheckFailed(Exception):
    """A contract violation found by a check, as the one sentence to show."""


@dataclass(frozen=True)
class Verdict:
    """A check's result; ``detail`` is its measurement when passed, else the violation."""

    passed: bool
    detail: str = ""
    sources: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Round:
    """One synthetic round's inputs."""

    updates: Tensor
    weights: Tensor
    ctx: RoundContext

    @classmethod
    def synthetic(cls, n: int, d: int, seed: int = 0) -> Round:
        g = torch.Generator().manual_seed(seed)
        direction = torch.randn(d, generator=g) / d**0.5
        scales = torch.rand(n, 1, generator=g) + 0.5
        updates = direction + torch.randn(n, d, generator=g) * scales / d**0.5
        f = n // 5
        updates[:f] *= 10.0
        weights = torch.randint(20, 80, (n,), generator=g).float()
        benign_mean = updates[f:].mean(dim=0)
        ctx = RoundContext(
            round=0,
            n_malicious=f,
            client_ids=np.arange(n) * 7 + 3,
            global_params=torch.randn(d, generator=g) * 0.01,
            generator=torch.Generator().manual_seed(seed + 1),
            server_update=lambda: benign_mean.clone(),
        )
        return cls(updates, weights, ctx)

    def permuted(self, order: Tensor) -> Round:
        """The same round with the clients in another order (ids and weights follow)."""
        ctx = replace(self.ctx, client_ids=self.ctx.client_ids[order.numpy()])
        return Round(self.updates[order], self.weights[order], ctx)

    def with_seed(self, seed: int) -> Round:
        """The same inputs with a fresh round generator seeded ``seed``."""
        return replace(self, ctx=replace(self.ctx, generator=torch.Generator().manual_seed(seed)))


def build(spec: DefenseSpec, n: int, d: int) -> Defense:
    """The defense as a scenario with ``n`` clients per round and f = n / 5 would build it, for
    updates of dimension ``d`` (with ``ItemRows.blocks(d)`` for rules that name
    ``item_rows``)."""
    try:
        return create_defense(
            spec, n_malicious=n // 5, n_clients=n, seed=0, item_rows=ItemRows.blocks(d)
        )
    except SpecError as err:
        raise CheckFailed(f"cannot build it for n={n}, f={n // 5}: {err}") from None


def call(defense: Defense, inputs: Round, doing: str) -> Aggregate:
    """``aggregate`` on a fresh copy of the inputs; its errors, a change to the inputs it was
    handed and a result that is not an ``Aggregate`` become one sentence."""
    method = getattr(defense, "aggregate", None)
    if not callable(method):
        raise CheckFailed(
            f"{type(defense).__name__} has no method aggregate(updates, weights, ctx) -> Aggregate"
        )
    given = {
        "updates": inputs.updates.clone(),
        "weights": inputs.weights.clone(),
        "ctx.global_params": inputs.ctx.global_params.clone(),
    }
    ctx = replace(inputs.ctx, global_params=given["ctx.global_params"])
    try:
        result = method(given["updates"], given["weights"], ctx)
    except Exception as err:
        if out_of_memory(err):
            raise  # the sandbox reports it as the memory limit
        raise CheckFailed(f"aggregate raised {one_line(err)} {doing}") from None
    originals = (inputs.updates, inputs.weights, inputs.ctx.global_params)
    for (name, copy), original in zip(given.items(), originals, strict=True):
        if not _same_bits(copy, original):
            raise CheckFailed(
                f"aggregate changed its input {name} in place {doing}; the engine hands a "
                "defense copies, so work on your own (updates.clone()) instead"
            )
    if not isinstance(result, Aggregate):
        raise CheckFailed(
            f"aggregate returned {type(result).__name__}, expected "
            "fedarena.defenses.Aggregate(update, accepted, diagnostics)"
        )
    return result


def _same_bits(a: Tensor, b: Tensor) -> bool:
    """Bitwise equality, under which NaN equals the same NaN."""
    return (
        a.shape == b.shape
        and a.dtype == b.dtype
        and torch.equal(a.contiguous().view(torch.uint8), b.contiguous().view(torch.uint8))
    )


def _max_difference(a: Tensor, b: Tensor) -> float:
    return float((a.double() - b.double()).abs().max())


def source_files(spec: DefenseSpec) -> dict[str, str]:
    """File -> SHA-256 of the module defining each link (plugins and built-ins alike)."""
    files: dict[str, str] = {}
    for link in spec.links:
        factory = DEFENSES.factory(link.name)
        path = inspect.getsourcefile(factory)
        if path is not None:
            files[_shown_path(Path(path))] = _sha256(Path(path))
    return dict(sorted(files.items()))


def _shown_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path.resolve())


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_interface(spec: DefenseSpec, budget_s: float) -> Verdict:
    """It builds from its spec, has ``aggregate`` and returns a ``fedarena.defenses.Aggregate``."""
    defense = build(spec, N, D)
    call(defense, Round.synthetic(N, D), f"on {N} finite updates")
    return Verdict(True, type(defense).__name__, source_files(spec))


def _check_magnitude(update: Tensor, inputs: Round) -> None:
    """An aggregate is not far larger than every update it aggregates (``ABSURD_FACTOR``)."""
    largest = float(inputs.updates.double().norm(dim=1).max())
    size = float(update.double().norm())
    if size > ABSURD_FACTOR * largest:
        raise CheckFailed(
            f"update has norm {size:.3g}, over {ABSURD_FACTOR:g} times the largest input "
            f"update's ({largest:.3g}); an aggregate must stay on the scale of what it aggregates"
        )


def _check_output(result: Aggregate, inputs: Round) -> None:
    update, accepted = result.update, result.accepted
    n, d = inputs.updates.shape
    if not isinstance(update, Tensor):
        raise CheckFailed(f"update is a {type(update).__name__}, expected a torch.Tensor")
    if tuple(update.shape) != (d,) or update.dtype != torch.float32:
        raise CheckFailed(
            f"update has shape {tuple(update.shape)} and dtype {update.dtype} for n={n}, d={d}; "
            f"expected shape ({d},) and torch.float32"
        )
    if not bool(torch.isfinite(update).all()):
        raise CheckFailed(f"update holds NaN or Inf for {n} finite updates of dimension {d}")
    _check_magnitude(update, inputs)
    if accepted is not None and (
        not isinstance(accepted, Tensor)
        or tuple(accepted.shape) != (n,)
        or accepted.dtype != torch.bool
    ):
        shape = tuple(accepted.shape) if isinstance(accepted, Tensor) else type(accepted).__name__
        dtype = getattr(accepted, "dtype", "-")
        raise CheckFailed(
            f"accepted has shape {shape} and dtype {dtype} for n={n}; "
            f"expected None or a torch.bool tensor of shape ({n},)"
        )
    diagnostics = result.diagnostics
    if not isinstance(diagnostics, dict) or not all(
        isinstance(k, str) and isinstance(v, int | float) for k, v in diagnostics.items()
    ):
        raise CheckFailed("diagnostics must be a dict of str -> float")


def check_output(spec: DefenseSpec, budget_s: float) -> Verdict:
    """``update`` is float32 of shape (d,), finite and on its inputs' scale; ``accepted`` None or
    bool of shape (n,)."""
    for n, d in ODD_SIZES:
        inputs = Round.synthetic(n, d)
        _check_output(call(build(spec, n, d), inputs, f"for n={n}, d={d}"), inputs)
    return Verdict(True, ", ".join(f"n={n} d={d}" for n, d in ODD_SIZES))


def _reseed_global_generators(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def check_determinism(spec: DefenseSpec, budget_s: float) -> Verdict:
    """Two fresh instances, same inputs and round seed, different global RNG states: equal."""
    inputs = Round.synthetic(N, D)
    outputs = []
    for global_seed in (1, 2):
        _reseed_global_generators(global_seed)
        outputs.append(call(build(spec, N, D), inputs.with_seed(5), "in the determinism check"))
    first, second = outputs
    if not torch.equal(first.update, second.update):
        raise CheckFailed(
            "two fresh instances given the same updates and round seed returned aggregates that "
            f"differ by up to {_max_difference(first.update, second.update):.3g}; draw "
            "randomness only from ctx.generator"
        )
    if not _same_verdict(first.accepted, second.accepted):
        raise CheckFailed(
            "two fresh instances given the same updates and round seed accepted different "
            "clients; draw randomness only from ctx.generator"
        )
    return Verdict(True, "bitwise equal")


def _same_verdict(a: Tensor | None, b: Tensor | None) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and torch.equal(a, b))


def _uses_generator(defense: Defense, inputs: Round) -> bool:
    before = inputs.ctx.generator.get_state()
    call(defense, inputs, "in the permutation check")
    return not torch.equal(before, inputs.ctx.generator.get_state())


def check_permutation(spec: DefenseSpec, budget_s: float) -> Verdict:
    """Reordering the clients (their updates, weights and ids) reorders ``accepted`` and
    leaves ``update`` unchanged (up to float rounding); for a rule that draws from
    ``ctx.generator``, the mean over ``DRAWS`` seeds is unchanged within Z_DRAWS
    standard errors."""
    inputs = Round.synthetic(N, D)
    order = torch.randperm(N, generator=torch.Generator().manual_seed(11))
    shuffled = inputs.permuted(order)
    if _uses_generator(build(spec, N, D), inputs.with_seed(0)):
        return _randomised_permutation(spec, inputs, shuffled)
    a = call(build(spec, N, D), inputs, "in the permutation check")
    b = call(build(spec, N, D), shuffled, "on permuted clients")
    tolerance = 1e-5 * max(1.0, float(a.update.abs().max()))
    difference = _max_difference(a.update, b.update)
    if difference > tolerance:
        raise CheckFailed(
            f"reordering the clients changed the aggregate by up to {difference:.3g} (more than "
            f"float rounding, {tolerance:.1g}); a rule must not depend on the clients' order"
        )
    if a.accepted is not None and b.accepted is not None:
        if not torch.equal(a.accepted[order], b.accepted):
            raise CheckFailed(
                "reordering the clients changed which clients are accepted; a rule must judge "
                "a client by its update, not by its position"
            )
    elif (a.accepted is None) != (b.accepted is None):
        raise CheckFailed("accepted is None for one order of the clients and not for another")
    return Verdict(True, f"max difference {difference:.1g}")


def _randomised_permutation(spec: DefenseSpec, inputs: Round, shuffled: Round) -> Verdict:
    draws = {}
    for name, round_ in (("original", inputs), ("permuted", shuffled)):
        draws[name] = torch.stack(
            [
                call(build(spec, N, D), round_.with_seed(s), "in the permutation check").update
                for s in range(DRAWS)
            ]
        ).double()
    a, b = draws["original"], draws["permuted"]
    spread = ((a.var(dim=0) + b.var(dim=0)) / 2).sqrt()
    allowed = Z_DRAWS * spread * (2 / DRAWS) ** 0.5 + 1e-5 * max(1.0, float(a.abs().max()))
    excess = (a.mean(dim=0) - b.mean(dim=0)).abs() - allowed
    if bool((excess > 0).any()):
        worst = int(excess.argmax())
        raise CheckFailed(
            f"reordering the clients changed the mean aggregate over {DRAWS} generator seeds "
            f"beyond chance (coordinate {worst}: {float(a[:, worst].mean()):.4g} vs "
            f"{float(b[:, worst].mean()):.4g}); a rule must not depend on the clients' order"
        )
    return Verdict(True, f"randomised: means over {DRAWS} seeds agree")


def check_nonfinite(spec: DefenseSpec, budget_s: float) -> Verdict:
    """Updates holding NaN or +-Inf: no exception, a finite aggregate, and their senders not
    accepted (the policy of ``fedarena.defenses.base``: reject and flag such rows)."""
    inputs = Round.synthetic(N, D)
    for row, value in NONFINITE_ROWS.items():
        inputs.updates[row, row] = value
    bad = sorted(NONFINITE_ROWS)
    result = call(build(spec, N, D), inputs, f"on {N} updates of which {len(bad)} hold NaN or Inf")
    update = result.update
    if not isinstance(update, Tensor) or tuple(update.shape) != (D,):
        shape = tuple(update.shape) if isinstance(update, Tensor) else type(update).__name__
        raise CheckFailed(
            f"with NaN or Inf in {len(bad)} of {N} updates, update has shape {shape}, "
            f"expected ({D},)"
        )
    if not bool(torch.isfinite(update).all()):
        raise CheckFailed(
            f"with NaN or Inf in {len(bad)} of {N} updates the aggregate holds NaN or Inf; "
            "reject and flag such rows (subclass fedarena.defenses.Aggregator, which does)"
        )
    accepted = result.accepted
    if isinstance(accepted, Tensor) and tuple(accepted.shape) == (N,) and bool(accepted[bad].any()):
        raise CheckFailed("accepted a client whose update holds NaN or Inf; flag such clients")
    return Verdict(True, f"{len(bad)} of {N} rows non-finite")


def check_runtime(spec: DefenseSpec, budget_s: float) -> Verdict:
    """The best of two calls after a warm-up one within ``budget_s`` of CPU time at n=100,
    d=1e5, on one thread (a warm-up over ten budgets alone decides). CPU time, not wall
    time: on a busy machine a defense waits for a core without doing more work."""
    defense = build(spec, RUNTIME_N, RUNTIME_D)
    inputs = Round.synthetic(RUNTIME_N, RUNTIME_D)
    size = f"n={RUNTIME_N}, d={RUNTIME_D}"
    times = []
    for _ in range(3):
        start = time.process_time()
        call(defense, inputs, f"at {size}")
        times.append(time.process_time() - start)
        if times[0] > 10 * budget_s:  # hopeless: spare the timed calls
            break
    best = min(times[1:] or times)
    if best > budget_s:
        raise CheckFailed(
            f"aggregate took {best:.3g} s of CPU per call at {size} (one thread), over the "
            f"budget of {budget_s:g} s"
        )
    return Verdict(True, f"{best:.3g} s of CPU at {size} (budget {budget_s:g} s)")


CHECKS: dict[str, Callable[[str, float], Verdict]] = {
    "interface": check_interface,
    "output shape and dtype": check_output,
    "determinism": check_determinism,
    "permutation invariance": check_permutation,
    "NaN input handled": check_nonfinite,
    "runtime": check_runtime,
}


def run_check(name: str, spec: DefenseSpec | str, budget_s: float) -> Verdict:
    """Run one check (in the sandbox child); a violation is a failed ``Verdict``."""
    try:
        return CHECKS[name](DefenseSpec.parse(spec), budget_s)
    except CheckFailed as failure:
        return Verdict(False, str(failure))
