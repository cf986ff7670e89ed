"""Submitted code runs in a bubblewrap jail: it cannot read the host's files, write outside
its scratch folder, reach the network or leave a process behind; where bubblewrap is
absent, a one-line notice says so and the process limits alone apply."""

from __future__ import annotations

import random
import socket
import time

import hostile
import pytest
from hostile import sleeping

from fedarena.sandbox import bwrap
from fedarena.sandbox.limits import Limits
from fedarena.submission.conformance import FAIL, NOT_RUN, check_conformance

HOSTILE = hostile.__file__
LIMITS = Limits(seconds=20, memory_mb=2048)
needs_bwrap = pytest.mark.skipif(
    bwrap.executable() is None, reason="bubblewrap (bwrap) is not installed"
)


def _probe(tmp_path, listener: socket.socket) -> tuple[str, str]:
    secret = tmp_path / "secret.txt"
    secret.write_text("a key")
    outside = tmp_path / "written.txt"
    port = listener.getsockname()[1]
    spec = f"{HOSTILE}:Probe(secret={str(secret)!r}, outside={str(outside)!r}, port={port})"
    first = check_conformance(spec, LIMITS).results[0]
    assert first.status == FAIL
    return first.detail, outside


@pytest.fixture()
def listener():
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield server


@needs_bwrap
def test_jailed_code_cannot_read_write_outside_or_connect(tmp_path, listener):
    detail, outside = _probe(tmp_path, listener)
    assert "passwd=refused secret=refused write=refused connect=refused" in detail
    assert not outside.exists()


def test_without_bubblewrap_a_notice_says_that_only_process_limits_apply(
    tmp_path, listener, monkeypatch, capsys
):
    monkeypatch.setenv(bwrap.DISABLE_ENV, "1")
    monkeypatch.setattr(bwrap, "_noticed", False)
    detail, _ = _probe(tmp_path, listener)
    assert "secret=done write=done connect=done" in detail  # no jail: the limits alone
    check_conformance("median", LIMITS)
    assert capsys.readouterr().err.count(bwrap.NOTICE) == 1


@needs_bwrap
def test_no_process_forked_by_jailed_code_outlives_the_checks():
    tag = round(random.uniform(1000, 2000), 3)
    report = check_conformance(f"{HOSTILE}:ForksGrandchild(tag={tag}, escape=True)", LIMITS)
    assert report.passed, report.failures
    deadline = time.monotonic() + 5
    while sleeping(tag) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sleeping(tag) == [], "a process forked by a check outlived the jail"


@needs_bwrap
def test_a_check_that_kills_the_jail_fails_and_the_rest_are_not_run():
    report = check_conformance(f"{HOSTILE}:KillsItsParent", LIMITS)
    first, *rest = report.results
    assert first.status == FAIL
    assert first.detail.startswith("the worker process was killed by SIGKILL")
    assert [r.status for r in rest] == [NOT_RUN] * len(rest)
