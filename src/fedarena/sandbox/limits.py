"""What a limited child is given (its limits) and gives back (its outcome), and how a failure
is put in one line."""

from __future__ import annotations

import signal
from dataclasses import dataclass
from typing import Any

_OUT_OF_MEMORY = ("can't allocate memory", "DefaultCPUAllocator", "std::bad_alloc")


@dataclass(frozen=True)
class Limits:
    """Per-child limits: wall-clock seconds and address space in MiB."""

    seconds: float = 900.0
    memory_mb: int = 4096

    def __post_init__(self) -> None:
        if not self.seconds > 0:
            raise ValueError(f"the cell time limit must be > 0 seconds, got {self.seconds}")
        if self.memory_mb < 256:
            raise ValueError(f"the cell memory limit must be >= 256 MiB, got {self.memory_mb}")


@dataclass(frozen=True)
class Outcome:
    """How a child's work ended: ``done`` with its result, else ``failed``/``skipped`` with a
    reason."""

    status: str
    wall_s: float
    reason: str | None = None
    traceback: str | None = None
    result: Any = None


@dataclass(frozen=True)
class Ready:
    """A child's first message: it has imported its code, so its time limit starts now (a
    fresh interpreter, the fork server's or a jail's, takes seconds to import torch)."""


@dataclass(frozen=True)
class Interim:
    """A message a child sends before its ``Outcome``: keyword values for its parent to pass
    on (a matrix cell's rounds, to the parent's monitoring)."""

    values: dict[str, Any]


def one_line(err: BaseException) -> str:
    """``Type: first line of the message``."""
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__


def out_of_memory(err: BaseException) -> bool:
    """Whether an error is an allocation refused (by the address-space limit, usually)."""
    return isinstance(err, MemoryError) or any(s in str(err) for s in _OUT_OF_MEMORY)


def death_reason(exitcode: int | None) -> str:
    """Why a child that sent nothing ended: the signal that killed it, or its exit status."""
    if exitcode is not None and exitcode < 0:
        name = signal.Signals(-exitcode).name
        hint = " (out of memory?)" if -exitcode == signal.SIGKILL else ""
        return f"the worker process was killed by {name}{hint} before reporting"
    return f"the worker process exited with status {exitcode} before reporting"
