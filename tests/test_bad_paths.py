"""Paths the system refuses (a name too long, a full disk, no permission): one line that names
the path, shortened, and the system's reason, exit status 2; never a traceback."""

from __future__ import annotations

import errno

import pytest

import fedarena.cli.run
from fedarena.cli import main
from fedarena.data.interactions import load_interactions
from fedarena.errors import DataError, shown_path
from tiny import TINY, flags

SMALL = [*flags(TINY), "--rounds", "1", "--no-baselines", "--quiet"]
LONG = "a" * 100_000  # longer than any file system's name limit


def _one_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("fedarena: error: ") and err.count("\n") == 1, err[:500]
    assert "Traceback" not in err and len(err) < 400
    return err


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", *SMALL, "--catalog", LONG], "cannot use it as a catalog (File name too long)"),
        (["run", *SMALL, "--out", f"{LONG}/r.json"], "--out: aaa"),
        (["matrix", "--scenario", LONG], "cannot read the scenario file (File name too long)"),
    ],
    ids=["run-catalog", "run-out", "matrix-scenario"],
)
def test_a_name_too_long_is_one_short_line(capsys, args, message):
    assert main(args) == 2
    err = _one_line(capsys)
    assert message in err and "(100,0" in err  # shortened, with its length


def test_a_matrix_output_folder_too_long_is_one_line(tmp_path, capsys):
    scenario = tmp_path / "m.toml"
    scenario.write_text("rounds = 1\nshoppers = 30\nclients_per_round = 10\n")
    assert main(["matrix", "--scenario", str(scenario), "--out", LONG, "--quiet"]) == 2
    assert "--out: aaa" in _one_line(capsys)


def test_an_interaction_log_too_long_is_a_data_error():
    with pytest.raises(DataError, match=r"characters\): cannot read \(File name too long\)"):
        load_interactions(LONG)


def test_a_long_path_is_shown_by_its_two_ends():
    shown = shown_path("/start/" + "x" * 1000 + "/end.csv")
    assert shown.startswith("/start/x") and "/end.csv" in shown and "(1,015 characters)" in shown
    assert shown_path("/short/path.csv") == "/short/path.csv"


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES])
def test_an_os_error_of_the_machine_is_one_line_at_the_top(monkeypatch, capsys, code):
    def fail(args, console):
        raise OSError(code, "as the system says it", "out/cells.json")

    monkeypatch.setattr(fedarena.cli.run, "main", fail)
    assert main(["run"]) == 2
    assert _one_line(capsys) == "fedarena: error: out/cells.json: as the system says it\n"


def test_any_other_error_keeps_its_traceback(monkeypatch):
    def fail(args, console):
        raise OSError(errno.EBADF, "Bad file descriptor")  # a bug, not the machine

    monkeypatch.setattr(fedarena.cli.run, "main", fail)
    with pytest.raises(OSError, match="Bad file descriptor"):
        main(["run"])


def test_an_events_file_too_long_is_one_short_line(capsys):
    assert main(["run", *SMALL, "--events", f"{LONG}.jsonl"]) == 2
    assert "events file aaa" in _one_line(capsys)


def test_submit_names_the_entry_flag_for_a_bad_entry_path(tmp_path, capsys):
    assert main(["submit", "fedavg", "--entry", str(tmp_path)]) == 2
    assert f"--entry: {tmp_path} is a folder, expected a file name" in _one_line(capsys)
