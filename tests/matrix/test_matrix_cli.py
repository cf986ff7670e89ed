"""``fedarena matrix`` and ``fedarena leaderboard`` end to end, and their one-line errors."""

from __future__ import annotations

import csv
import json
import re

import pytest

from fedarena.cli import main
from fedarena.matrix.store import ResultStore


def _error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize(
    "body, message",
    [
        ("seed 3\n", r"invalid TOML: Expected '=' after a key .* \(at line \d+, column 6\)"),
        ('defense = "krumm"\n', r"m\.toml:\d+: defense = 'krumm': unknown defense 'krumm'; known"),
        ('strategy = "fedavg(mu=1)"\n', r"takes no option mu; its options: server_lr"),
        ("seed = []\n", r"seed is an empty list, so the matrix has no cells"),
    ],
)
def test_bad_files_are_one_line_and_exit_2(write_matrix, tmp_path, capsys, body, message):
    assert (
        main(
            [
                "matrix",
                "--scenario",
                str(write_matrix(body)),
                "--out",
                str(tmp_path / "o"),
                "--quiet",
            ]
        )
        == 2
    )
    assert re.search(message, _error(capsys))
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--workers", "0"], "--workers must be >= 1, got 0"),
        (["--cell-memory", "10"], "--cell-memory: the cell memory limit must be >= 256 MiB"),
        (["--cell-timeout", "0"], "--cell-timeout: the cell time limit must be > 0 seconds"),
        (["--cell-timeout", "nan"], "--cell-timeout: the cell time limit must be > 0 seconds"),
        (["--cell-timeout", "-1", "--cell-memory", "1"], "--cell-timeout: "),
        (["--grid", "nope"], "no grid named 'nope'; grids: m"),
    ],
)
def test_bad_flags_are_one_line_and_exit_2(write_matrix, tmp_path, capsys, args, message):
    path = write_matrix("")
    assert (
        main(["matrix", "--scenario", str(path), "--out", str(tmp_path / "o"), "--quiet", *args])
        == 2
    )
    assert message in _error(capsys)


def test_missing_file_and_unusable_output(write_matrix, tmp_path, capsys, monkeypatch):
    assert main(["matrix", "--scenario", str(tmp_path / "absent.toml")]) == 2
    assert "absent.toml: no such scenario file" in _error(capsys)
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert (
        main(
            ["matrix", "--scenario", str(write_matrix("")), "--out", str(blocker / "o"), "--quiet"]
        )
        == 2
    )
    assert "is a file, not a folder" in _error(capsys)
    monkeypatch.setattr("os.access", lambda path, mode: False)
    assert (
        main(
            ["matrix", "--scenario", str(write_matrix("")), "--out", str(tmp_path / "o"), "--quiet"]
        )
        == 2
    )
    assert f"folder {tmp_path} is not writable" in _error(capsys)


def test_matrix_then_leaderboard_end_to_end(write_matrix, plugin, tmp_path, capsys):
    attacks = ["none", plugin("Promote"), plugin("Scramble")]
    defenses = ["fedavg", plugin("Mean"), plugin("Raises")]
    path = write_matrix(
        "malicious_fraction = 0.2\nseed = [0, 1]\n"
        f"attack = {json.dumps(attacks)}\ndefense = {json.dumps(defenses)}\n"
    )
    out = tmp_path / "out"
    assert (
        main(["matrix", "--scenario", str(path), "--out", str(out), "--workers", "2", "--quiet"])
        == 1
    )
    with ResultStore.in_folder(out) as store:
        records = store.records()
    assert len(records) == 18
    assert {r.status for r in records if r.spec["defense"].endswith("Raises")} == {"failed"}
    rows = list(csv.DictReader((out / "cells.csv").open()))
    assert len(rows) == 18 and len(json.loads((out / "cells.json").read_text())["cells"]) == 18
    # the forked cells of a seed shared one simulated population (fedarena.data.cache)
    assert len(list((out / "worlds").glob("population-*.npz"))) == 2

    # a later bad run into the same folder loses nothing
    capsys.readouterr()
    assert (
        main(
            [
                "matrix",
                "--scenario",
                str(write_matrix('seed = "x"\n', "bad.toml")),
                "--out",
                str(out),
            ]
        )
        == 2
    )
    with ResultStore.in_folder(out) as store:
        assert [r.as_dict() for r in store.records()] == [r.as_dict() for r in records]

    assert main(["leaderboard", str(out), "--out", str(tmp_path / "board")]) == 0
    board = json.loads((tmp_path / "board" / "leaderboard.json").read_text())
    (panel,) = board["panels"]
    ranking = {entry["defense"].rpartition(":")[2]: entry for entry in panel["ranking"]}
    assert ranking["Raises"]["robust"]["mean"] == 0.0
    scored = [e["robust"]["mean"] for e in panel["ranking"] if e["robust"]["mean"] is not None]
    assert scored == sorted(scored, reverse=True)

    # Utility retained and attack success of the untargeted attack, recomputed from the store:
    # means over the last 5 evaluated rounds, measured above the popularity baseline.
    def last5(record):
        values = [r["ndcg@10"] for r in record.result["rounds"] if r.get("ndcg@10") is not None]
        return sum(values[-5:]) / len(values[-5:])

    done = {
        (r.spec["attack"].rpartition(":")[2], r.spec["defense"].rpartition(":")[2], r.seed): r
        for r in records
        if r.status == "done"
    }
    cells = {
        (c["attack"].rpartition(":")[2], c["defense"].rpartition(":")[2], c["seed"]): c
        for c in board["cells"]
    }
    for seed in (0, 1):
        reference = done["none", "fedavg", seed]
        floor = reference.result["baselines"]["popularity"]["ndcg@10"]
        clean, attacked = last5(done["none", "Mean", seed]), last5(done["Scramble", "Mean", seed])
        cell = cells["Scramble", "Mean", seed]
        if clean > floor:
            kept = min(max((attacked - floor) / (clean - floor), 0.0), 1.0)
            assert cell["attack_success"] == pytest.approx(1.0 - kept)
        else:
            assert cell["attack_success"] is None
        if last5(reference) > floor:
            expected = (attacked - floor) / (last5(reference) - floor)
            assert cell["utility_retained"] == pytest.approx(min(max(expected, 0.0), 1.0))
        else:
            assert cell["utility_retained"] is None
    for name in ("LEADERBOARD.md", "index.html", "leaderboard.csv", "cells.csv"):
        assert (tmp_path / "board" / name).stat().st_size > 0
    for figure in panel["figures"].values():
        assert (tmp_path / "board" / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_leaderboard_errors(tmp_path, capsys):
    assert main(["leaderboard", str(tmp_path)]) == 2
    assert "no results.sqlite here; run fedarena matrix" in _error(capsys)
    assert main(["leaderboard", str(tmp_path / "nope")]) == 2
    assert "no such folder or file" in _error(capsys)
