"""The fedavg defense + a fedarena strategy against Flower's own strategy arithmetic.

Flower's FedAdam, FedYogi, FedAdagrad and FedAvgM (``flwr.server.strategy``)
are driven through ``aggregate_fit`` with fake client results: each client
returns the current global model plus a fixed update and its number of
examples. Flower averages them by example count (as our ``fedavg`` defense
does) and applies its server optimiser; we do the same with our defense and
``fedavg_plus``. Flower starts its second moment at 0 while Algorithm 2 starts
it at tau^2, so Flower's state is set to the paper's before the first round.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

flwr_common = pytest.importorskip("flwr.common")
flwr_strategy = pytest.importorskip("flwr.server.strategy")

from fedarena.defenses.base import RoundContext  # noqa: E402
from fedarena.defenses.fedavg import FedAvg as WeightedMean  # noqa: E402
from fedarena.strategies.fedavg_plus import FedAvgPlus  # noqa: E402

D = 6
ROUNDS = 4
N_EXAMPLES = [3, 1, 4]


def _client_updates(round: int) -> np.ndarray:
    rng = np.random.default_rng([11, round])
    return rng.normal(scale=0.05, size=(len(N_EXAMPLES), D))


def _flower_round(strategy, global_params: np.ndarray, round: int) -> np.ndarray:
    """One ``aggregate_fit`` of Flower's strategy; returns its new global model."""
    results = [
        (
            None,
            flwr_common.FitRes(
                status=flwr_common.Status(flwr_common.Code.OK, ""),
                parameters=flwr_common.ndarrays_to_parameters([global_params + update]),
                num_examples=n,
                metrics={},
            ),
        )
        for update, n in zip(_client_updates(round), N_EXAMPLES, strict=True)
    ]
    parameters, _ = strategy.aggregate_fit(round + 1, results, [])
    return flwr_common.parameters_to_ndarrays(parameters)[0]


def _our_round(strategy: FedAvgPlus, global_params: torch.Tensor, round: int) -> torch.Tensor:
    updates = torch.from_numpy(_client_updates(round)).float()
    weights = torch.tensor(N_EXAMPLES, dtype=torch.float32)
    ctx = RoundContext(
        round=round,
        n_malicious=0,
        client_ids=np.arange(len(N_EXAMPLES)),
        global_params=global_params,
        generator=torch.Generator(),
    )
    aggregate = WeightedMean().aggregate(updates, weights, ctx)
    return strategy.server_step(global_params, aggregate.update, round)


def _initial() -> np.ndarray:
    return np.random.default_rng(5).normal(size=D)


def _paper_state(strategy, tau: float) -> None:
    strategy.m_t = [np.zeros(D)]
    strategy.v_t = [np.full(D, tau**2)]


def _increments(flower, ours: FedAvgPlus) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per-round model changes of both, each from its own trajectory."""
    x_flower, x_ours = _initial(), torch.from_numpy(_initial()).float()
    flower_steps, our_steps = [], []
    for t in range(ROUNDS):
        new_flower = _flower_round(flower, x_flower, t)
        new_ours = _our_round(ours, x_ours, t)
        flower_steps.append(new_flower - x_flower)
        our_steps.append((new_ours - x_ours).double().numpy())
        x_flower, x_ours = new_flower, new_ours
    return flower_steps, our_steps


def _start(initial: np.ndarray):
    return flwr_common.ndarrays_to_parameters([initial])


@pytest.mark.parametrize(
    "flower_class, server_opt, betas",
    [
        ("FedYogi", "yogi", {"beta1": 0.9, "beta2": 0.99}),
        ("FedAdagrad", "adagrad", {"beta1": 0.0}),
    ],
)
def test_yogi_and_adagrad_equal_flowers(flower_class, server_opt, betas):
    tau, eta = 1e-2, 0.1
    flower = getattr(flwr_strategy, flower_class)(
        initial_parameters=_start(_initial()),
        eta=eta,
        tau=tau,
        **({"beta_1": betas["beta1"], "beta_2": betas["beta2"]} if "beta2" in betas else {}),
    )
    _paper_state(flower, tau)
    ours = FedAvgPlus(server_opt=server_opt, server_lr=eta, tau=tau, **betas)
    for got, want in zip(*reversed(_increments(flower, ours)), strict=True):
        np.testing.assert_allclose(got, want, rtol=2e-4, atol=1e-7)


def test_adam_equals_flowers_up_to_its_bias_correction():
    # Flower's FedAdam scales Algorithm 2's step by Kingma & Ba's bias correction,
    # sqrt(1 - beta2^(r + 1)) / (1 - beta1^(r + 1)) for server round r; the moments agree.
    tau, eta, beta1, beta2 = 1e-2, 0.1, 0.9, 0.99
    flower = flwr_strategy.FedAdam(
        initial_parameters=_start(_initial()), eta=eta, tau=tau, beta_1=beta1, beta_2=beta2
    )
    _paper_state(flower, tau)
    ours = FedAvgPlus(server_opt="adam", server_lr=eta, beta1=beta1, beta2=beta2, tau=tau)
    flower_steps, our_steps = _increments(flower, ours)
    for t, (got, want) in enumerate(zip(our_steps, flower_steps, strict=True)):
        r = t + 1
        correction = np.sqrt(1 - beta2 ** (r + 1)) / (1 - beta1 ** (r + 1))
        np.testing.assert_allclose(correction * got, want, rtol=2e-4, atol=1e-7)


def test_momentum_equals_flowers_fedavgm():
    flower = flwr_strategy.FedAvgM(
        initial_parameters=_start(_initial()), server_learning_rate=0.7, server_momentum=0.9
    )
    ours = FedAvgPlus(server_opt="momentum", server_lr=0.7, beta1=0.9)
    for got, want in zip(*reversed(_increments(flower, ours)), strict=True):
        np.testing.assert_allclose(got, want, rtol=2e-4, atol=1e-7)
