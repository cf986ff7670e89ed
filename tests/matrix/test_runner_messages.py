"""The runner reads everything a worker sent, in order, however the worker's end and the
parent's poll interleave."""

from __future__ import annotations

import multiprocessing
import time

from fedarena.matrix.cell import Cell
from fedarena.matrix.runner import MatrixRunner, _Job
from fedarena.sandbox.limits import Interim, Limits, Outcome
from fedarena.sandbox.messages import Channel
from tiny import TINY


class ExitedChild:
    """A worker that has already exited with status 0, its messages still in the pipe."""

    exitcode = 0

    def __init__(self, messages) -> None:
        self.messages = messages
        self.started = time.monotonic()

    def is_alive(self) -> bool:
        return False

    def join(self, timeout: float | None = None) -> None:
        return None

    def stop(self, grace: float) -> None:
        self.messages.close()


class Rounds:
    def __init__(self) -> None:
        self.rounds: list[int] = []

    def on_round(self, **values) -> None:
        self.rounds.append(values["round"])


class LateChannel:
    """The read end of a pipe whose first poll comes just before the worker's last write."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.polls = 0

    def poll(self) -> bool:
        self.polls += 1
        return self.polls > 1 and self.channel.poll()

    def recv(self):
        return self.channel.recv()

    def close(self) -> None:
        self.channel.close()


def _job(messages: list[object], rounds: Rounds | None = None, late: bool = False) -> _Job:
    receive, send = multiprocessing.Pipe(duplex=False)
    for message in messages:
        send.send(message)
    send.close()
    channel = LateChannel(Channel(receive)) if late else Channel(receive)
    return _Job(Cell.of(TINY), ExitedChild(channel), rounds)


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


def test_a_worker_that_sends_an_object_of_another_type_fails_its_cell_unread():
    class Smuggled:  # unpickling it in the parent would run the worker's code
        def __reduce__(self):
            return (print, ("pwned",))

    outcome = _runner()._poll(_job([Smuggled()]))
    assert outcome.status == "failed"
    assert outcome.reason == "a child sent an object of type builtins.print, which is refused"
