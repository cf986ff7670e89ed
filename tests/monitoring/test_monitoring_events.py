"""Round and cell events: one valid JSON object per line, schema-stamped, NaN-free."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from monitoring_helpers import round_args

from fedarena.errors import FedarenaError
from fedarena.monitoring.events import (
    SCHEMA,
    EventMatrixObserver,
    EventRoundObserver,
    EventSink,
    JsonLinesSink,
    event,
)


def read_lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_matrix_and_its_rounds_become_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    with JsonLinesSink(path) as sink:
        assert isinstance(sink, EventSink)
        matrix = EventMatrixObserver(sink, matrix="smoke")
        matrix.on_matrix_start(2, 0)
        matrix.on_cell_start("c1")
        EventRoundObserver(sink, cell="c1").on_round(**round_args(1))
        matrix.on_cell_end("done", 1.25, "c1")
    events = read_lines(path)
    assert [e["kind"] for e in events] == ["matrix_start", "cell_start", "round", "cell_end"]
    assert all(e["schema"] == SCHEMA == "fedarena.event/1" for e in events)
    assert events[0] | {"time": 0} == {
        "schema": SCHEMA,
        "kind": "matrix_start",
        "time": 0,
        "matrix": "smoke",
        "total": 2,
        "resumed": 0,
    }
    round_event = events[2]
    assert round_event["cell"] == "c1"
    assert round_event["benign_norm"]["max"] == 8.0
    assert round_event["malicious_norm"] == {
        "count": 1,
        "nonfinite": 1,
        "min": 50.0,
        "p50": 50.0,
        "p90": 50.0,
        "max": 50.0,
    }
    assert round_event["metrics"] == {"ndcg@10": 0.25, "hr@10": 0.5}
    assert events[3]["status"] == "done"


def test_non_finite_numbers_are_written_as_null(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    with JsonLinesSink(path) as sink:
        EventRoundObserver(sink).on_round(
            **round_args(global_norm=float("nan"), metrics={"auc": float("inf")})
        )
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    (only,) = read_lines(path)
    assert only["global_norm"] is None
    assert only["metrics"] == {"auc": None}


def test_each_event_is_flushed_before_the_sink_closes(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    sink = JsonLinesSink(path)
    EventMatrixObserver(sink).on_matrix_start(1, 0)
    assert len(read_lines(path)) == 1
    sink.close()


def test_a_sink_appends_to_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    for total in (1, 2):
        with JsonLinesSink(path) as sink:
            EventMatrixObserver(sink).on_matrix_start(total, 0)
    assert [e["total"] for e in read_lines(path)] == [1, 2]


def test_an_unwritable_path_is_one_line_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "events.jsonl"
    with pytest.raises(FedarenaError, match=r"^events file .*events.jsonl: cannot open"):
        JsonLinesSink(missing)


def test_a_failing_sink_never_reaches_the_caller(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sink = JsonLinesSink(tmp_path / "events.jsonl")
    sink.close()
    observer = EventRoundObserver(sink)
    with caplog.at_level(logging.WARNING, logger="fedarena.monitoring"):
        observer.on_round(**round_args())
    assert any("EventRoundObserver.on_round failed" in r.getMessage() for r in caplog.records)


def test_an_unknown_event_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="event kind must be one of matrix_start"):
        event("cell_paused")
