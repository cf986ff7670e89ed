"""The observer API: protocols, the no-op observer, fan-out, and errors that never escape."""

from __future__ import annotations

import logging

import pytest
from monitoring_helpers import round_args

from fedarena.monitoring import FanOut, MatrixObserver, NullObserver, RoundObserver
from fedarena.monitoring.observers import check_status, guarded


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def on_matrix_start(self, total: int, resumed: int) -> None:
        self.calls.append(("matrix", total, resumed))

    def on_cell_end(self, status: str, seconds: float, cell: str = "") -> None:
        self.calls.append(("end", status, seconds, cell))

    def on_round(self, **kwargs) -> None:
        self.calls.append(("round", kwargs["round"]))


class Broken:
    @guarded
    def on_round(self, **kwargs) -> None:
        raise RuntimeError("dashboard exploded")


def test_null_observer_is_both_observers_and_does_nothing() -> None:
    null = NullObserver()
    assert isinstance(null, MatrixObserver)
    assert isinstance(null, RoundObserver)
    null.on_matrix_start(4, 1)
    null.on_cell_start("c1")
    null.on_cell_end("done", 1.0, "c1")
    assert null.on_round(**round_args()) is None


def test_guarded_method_logs_once_and_never_raises(caplog: pytest.LogCaptureFixture) -> None:
    broken = Broken()
    with caplog.at_level(logging.WARNING, logger="fedarena.monitoring"):
        broken.on_round(**round_args(1))
        broken.on_round(**round_args(2))
    failures = [r for r in caplog.records if "dashboard exploded" in r.getMessage()]
    assert len(failures) == 1
    assert "Broken.on_round" in failures[0].getMessage()


def test_fan_out_reaches_every_observer_past_a_failing_one(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Raising:
        def on_round(self, **kwargs) -> None:
            raise ValueError("no")

    first, last = Recorder(), Recorder()
    fan = FanOut(first, Raising(), NullObserver(), last)
    with caplog.at_level(logging.WARNING, logger="fedarena.monitoring"):
        fan.on_round(**round_args(3))
        fan.on_matrix_start(6, 2)
        fan.on_cell_start("c")  # Recorder has no on_cell_start: skipped, not an error
        fan.on_cell_end("failed", 2.5, "c")
    expected = [("round", 3), ("matrix", 6, 2), ("end", "failed", 2.5, "c")]
    assert first.calls == expected
    assert last.calls == expected
    assert any("Raising.on_round failed: no" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("status", ["done", "failed", "skipped"])
def test_check_status_accepts_the_matrix_statuses(status: str) -> None:
    check_status(status)


def test_check_status_names_the_allowed_statuses() -> None:
    with pytest.raises(ValueError, match="done, failed, skipped, got 'ok'"):
        check_status("ok")
