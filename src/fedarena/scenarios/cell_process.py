"""What a cell's worker process is given (its limits) and gives back (its outcome)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Limits:
    """Per-cell limits: wall-clock seconds and address space in MiB."""

    seconds: float = 900.0
    memory_mb: int = 4096

    def __post_init__(self) -> None:
        if not self.seconds > 0:
            raise ValueError(f"the cell time limit must be > 0 seconds, got {self.seconds}")
        if self.memory_mb < 256:
            raise ValueError(f"the cell memory limit must be >= 256 MiB, got {self.memory_mb}")


@dataclass(frozen=True)
class Outcome:
    """How a cell ended: ``done`` with its result, else ``failed``/``skipped`` with a reason."""

    status: str
    wall_s: float
    reason: str | None = None
    traceback: str | None = None
    result: dict[str, Any] | None = None
