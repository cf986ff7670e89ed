"""Server optimisers for FedAvg+: FedAdam, FedYogi, FedAdagrad and server momentum (FedAvgM).

Each is a pair of pure functions in the style of optax: ``init(d)`` gives the
state before round 0 and ``update(delta, state)`` the increment added to the
global model and the next state. Keeping them pure lets the strategy commit
the state only after a finite step (a defense that returns NaN must not poison
the moments of every later round).

Sign convention: ``delta`` is Delta_t, the aggregated client *change*
(x_{i,K} - x_t averaged), i.e. minus the pseudo-gradient, so every rule adds
its increment: x_{t+1} = x_t + increment.
"""

from __future__ import annotations

import inspect
from typing import Protocol

import torch
from torch import Tensor

from fedarena.options import real

State = tuple[Tensor, ...]


class ServerOptimiser(Protocol):
    """A server update rule: ``lr`` is its eta, the strategy's ``server_lr``."""

    lr: float

    def init(self, d: int) -> State: ...

    def update(self, delta: Tensor, state: State) -> tuple[Tensor, State]: ...


def _positive(name: str, value: float) -> float:
    if not real(name, value) > 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    return float(value)


def _decay(name: str, value: float) -> float:
    if not 0 <= real(name, value) < 1:
        raise ValueError(f"{name} must be in [0, 1), got {value}")
    return float(value)


class _Adaptive:
    """Algorithm 2 of Reddi et al., "Adaptive Federated Optimization", ICLR 2021.

    With m_{-1} = 0 and v_{-1} = tau^2 (the smallest the paper allows)::

        m_t     = beta1 m_{t-1} + (1 - beta1) Delta_t
        v_t     = second_moment(v_{t-1}, Delta_t^2)        (per subclass)
        x_{t+1} = x_t + eta m_t / (sqrt(v_t) + tau)

    No bias correction: the paper's Algorithm 2 has none (Flower's FedAdam
    adds Kingma & Ba's, which scales the step by sqrt(1 - beta2^(t+1)) /
    (1 - beta1^(t+1))). ``tau`` sets the degree of adaptivity: large ``tau``
    makes the step close to eta m_t / tau, small ``tau`` close to a sign step.
    """

    def __init__(self, lr: float, beta1: float, tau: float) -> None:
        self.lr = _positive("server_lr", lr)
        self.beta1 = _decay("beta1", beta1)
        self.tau = _positive("tau", tau)

    def second_moment(self, v: Tensor, delta_sq: Tensor) -> Tensor:
        raise NotImplementedError

    def init(self, d: int) -> State:
        return torch.zeros(d), torch.full((d,), self.tau**2)

    def update(self, delta: Tensor, state: State) -> tuple[Tensor, State]:
        m, v = state
        m = self.beta1 * m + (1 - self.beta1) * delta
        v = self.second_moment(v, delta * delta)
        return self.lr * m / (v.sqrt() + self.tau), (m, v)


class Adam(_Adaptive):
    """FedAdam: v_t = beta2 v_{t-1} + (1 - beta2) Delta_t^2.

    >>> import torch
    >>> opt = Adam(lr=0.1, beta1=0.0, beta2=0.0, tau=1e-3)
    >>> opt.update(torch.tensor([4.0, -1.0]), opt.init(2))[0]  # eta Delta / (|Delta| + tau)
    tensor([ 0.1000, -0.0999])
    """

    def __init__(
        self, lr: float = 0.03, beta1: float = 0.9, beta2: float = 0.99, tau: float = 1e-3
    ) -> None:
        super().__init__(lr, beta1, tau)
        self.beta2 = _decay("beta2", beta2)

    def second_moment(self, v: Tensor, delta_sq: Tensor) -> Tensor:
        return self.beta2 * v + (1 - self.beta2) * delta_sq


class Yogi(_Adaptive):
    """FedYogi: v_t = v_{t-1} - (1 - beta2) Delta_t^2 sign(v_{t-1} - Delta_t^2).

    Unlike Adam's, v moves by an amount that does not depend on v itself, so a
    burst of large updates cannot inflate it quickly (Zaheer et al., NeurIPS 2018).
    """

    def __init__(
        self, lr: float = 0.03, beta1: float = 0.9, beta2: float = 0.99, tau: float = 1e-3
    ) -> None:
        super().__init__(lr, beta1, tau)
        self.beta2 = _decay("beta2", beta2)

    def second_moment(self, v: Tensor, delta_sq: Tensor) -> Tensor:
        return v - (1 - self.beta2) * delta_sq * torch.sign(v - delta_sq)


class Adagrad(_Adaptive):
    """FedAdagrad: v_t = v_{t-1} + Delta_t^2.

    ``beta1`` defaults to 0 (no momentum, classic Adagrad, as in Flower's
    FedAdagrad); Algorithm 2 allows any beta1 in [0, 1).
    """

    def __init__(self, lr: float = 0.1, beta1: float = 0.0, tau: float = 1e-3) -> None:
        super().__init__(lr, beta1, tau)

    def second_moment(self, v: Tensor, delta_sq: Tensor) -> Tensor:
        return v + delta_sq


class Momentum:
    """Server momentum, FedAvgM (Hsu et al., arXiv:1909.06335, 2019).

    With m_{-1} = 0:  m_t = beta1 m_{t-1} + Delta_t,  x_{t+1} = x_t + eta m_t.
    In a steady state the step is eta / (1 - beta1) times FedAvg's: 3 times with
    the defaults, which were chosen on the built-in shop (docs/strategies.md).

    >>> import torch
    >>> opt = Momentum(lr=1.0, beta1=0.5)
    >>> step, state = opt.update(torch.tensor([2.0]), opt.init(1))
    >>> opt.update(torch.tensor([2.0]), state)[0]  # 0.5 * 2 + 2
    tensor([3.])
    """

    def __init__(self, lr: float = 0.3, beta1: float = 0.9) -> None:
        self.lr = _positive("server_lr", lr)
        self.beta1 = _decay("beta1", beta1)

    def init(self, d: int) -> State:
        return (torch.zeros(d),)

    def update(self, delta: Tensor, state: State) -> tuple[Tensor, State]:
        (m,) = state
        m = self.beta1 * m + delta
        return self.lr * m, (m,)


SERVER_OPTIMISERS: dict[str, type[ServerOptimiser]] = {
    "adam": Adam,
    "yogi": Yogi,
    "adagrad": Adagrad,
    "momentum": Momentum,
}


def hyperparameters(name: str) -> list[str]:
    """The hyperparameters the server optimiser ``name`` takes (``lr`` first)."""
    return list(inspect.signature(SERVER_OPTIMISERS[name]).parameters)
