"""The runner reads everything a worker sent, in order, however the worker's end and the
parent's poll interleave."""

from __future__ import annotations

import multiprocessing

from fedarena.matrix.cell import Cell
from fedarena.matrix.runner import MatrixRunner, _Job
from fedarena.sandbox.limits import Interim, Limits, Outcome
from tiny import TINY


class ExitedProcess:
    """A worker that has already exited with status 0."""

    exitcode = 0

    def is_alive(self) -> bool:
        return False

    def join(self, timeout: float | None = None) -> None:
        return None

    def kill(self) -> None:
        raise AssertionError("an exited worker is not killed")

    def close(self) -> None:
        return None


class Rounds:
    def __init__(self) -> None:
        self.rounds: list[int] = []

    def on_round(self, **values) -> None:
        self.rounds.append(values["round"])


class LateConnection:
    """The read end of a pipe whose first poll comes just before the worker's last write."""

    def __init__(self, connection) -> None:
        self.connection = connection
        self.polls = 0

    def poll(self) -> bool:
        self.polls += 1
        return self.polls > 1 and self.connection.poll()

    def recv(self):
        return self.connection.recv()

    def close(self) -> None:
        self.connection.close()


def _job(messages: list[object], rounds: Rounds | None = None, late: bool = False) -> _Job:
    receive, send = multiprocessing.Pipe(duplex=False)
    for message in messages:
        send.send(message)
    send.close()
    connection = LateConnection(receive) if late else receive
    return _Job(Cell.of(TINY), ExitedProcess(), connection, 0.0, 1e12, rounds)


def _runner() -> MatrixRunner:
    runner = MatrixRunner.__new__(MatrixRunner)
    runner.limits = Limits()
    return runner


def test_an_outcome_sent_just_before_the_worker_exited_is_not_lost():
    done = Outcome("skipped", 0.1, reason="krum needs n > 2f + 2")
    assert _runner()._poll(_job([done], late=True)) == done


def test_round_reports_reach_the_cells_observer_before_its_outcome():
    rounds = Rounds()
    done = Outcome("done", 0.2, result={})
    job = _job([Interim({"round": 1}), Interim({"round": 2}), done], rounds)
    assert _runner()._poll(job) == done
    assert rounds.rounds == [1, 2]


def test_a_worker_that_exited_without_an_outcome_fails_its_cell_with_its_status():
    outcome = _runner()._poll(_job([Interim({"round": 1})]))
    assert outcome.status == "failed"
    assert outcome.reason == "the worker process exited with status 0 before reporting"
