"""``fedarena verify``, and how the leaderboard shows entries: verified or not, a runtime budget
override, refused when a value is out of range; ``submit``'s packaged default scenario file."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

import fedarena
from fedarena.cli import main
from tiny import TINY, toml

DEFECTS = Path(__file__).with_name("defects.py")
SPEC = f"{DEFECTS}:NeedsOption(scale=1.0)"
MATRIX = (
    toml(replace(TINY, rounds=1, shoppers=30, dim=4, baselines=True))
    + """
malicious_fraction = 0.2
attack = ["none", "label_flip"]
defense = ["fedavg"]
"""
)


@pytest.fixture(scope="module")
def entry(tmp_path_factory) -> Path:
    """An entry of SPEC on MATRIX, submitted with a runtime budget of 5 s (not the default)."""
    folder = tmp_path_factory.mktemp("verify")
    matrix = folder / "tiny.toml"
    matrix.write_text(MATRIX)
    path = folder / "entry.json"
    args = ["submit", SPEC, "--scenario", str(matrix), "--out", str(folder / "results")]
    assert main([*args, "--entry", str(path), "--budget", "5", "--workers", "2", "--quiet"]) == 0
    return path


def copy_of(entry: Path, tmp_path: Path, edit=None) -> Path:
    """A copy of the entry in ``tmp_path``, its document passed through ``edit`` first."""
    document = json.loads(entry.read_text())
    path = tmp_path / "entry.json"
    path.write_text(json.dumps(edit(document) if edit else document))
    return path


def board(source: Path, tmp_path: Path) -> tuple[dict, str, str]:
    out = tmp_path / "board"
    assert main(["leaderboard", str(source), "--out", str(out)]) == 0
    return (
        json.loads((out / "leaderboard.json").read_text()),
        (out / "LEADERBOARD.md").read_text(),
        (out / "index.html").read_text(),
    )


def hand_edited(ndcg: float):
    """The issue's edit: the defense's cells given NDCG ``ndcg`` and ER 0, final and per round."""

    def edit(document: dict) -> dict:
        for cell in document["cells"]:
            if cell["spec"]["defense"] == SPEC and cell["result"]:
                for values in [cell["result"]["final"], *cell["result"]["rounds"]]:
                    values["ndcg@10"] = ndcg
                    values["er@10"] = 0.0
        return document

    return edit


def test_the_entry_carries_its_source_text(entry):
    document = json.loads(entry.read_text())
    assert document["schema"] == "fedarena.entry/2"
    (plugin,) = [name for name in document["source_text"] if name.endswith("defects.py")]
    assert document["source_text"][plugin] == DEFECTS.read_text()
    assert set(document["source_text"]) == set(document["manifest"]["sources"])


def test_verify_reruns_a_sample_and_the_board_shows_it_verified(entry, tmp_path, capsys):
    path = copy_of(entry, tmp_path)
    assert main(["verify", str(path), "--sample", "2", "--workers", "2"]) == 0
    out = capsys.readouterr().out
    assert "2 of 2 reruns match the entry; recorded in" in out
    assert "label_flip" in out  # the sample includes an attacked cell
    document, markdown, html = board(path, tmp_path)
    assert document["entries"][0]["verification"] == "verified"
    assert "| verified |" in markdown
    assert "<td>verified</td>" in html


def test_a_hand_edited_entry_is_unverified_and_verify_finds_the_edit(entry, tmp_path, capsys):
    path = copy_of(entry, tmp_path, hand_edited(0.5))
    document, markdown, _ = board(path, tmp_path)
    assert document["entries"][0]["verification"] == "unverified"
    assert "| unverified |" in markdown
    assert main(["verify", str(path), "--sample", "4", "--workers", "2"]) == 1
    out = capsys.readouterr().out
    assert "DIFFERS" in out and "ndcg@10: entry 0.5, rerun" in out
    assert "of 4 reruns match the entry" in out
    recorded = json.loads(path.read_text())["verification"]
    assert recorded["matched"] is False
    assert board(path, tmp_path)[0]["entries"][0]["verification"] == "unverified (reruns differ)"


def test_an_entry_edited_after_verification_is_unverified_again(entry, tmp_path):
    path = copy_of(entry, tmp_path)
    assert main(["verify", str(path), "--sample", "1", "--no-record"]) == 0
    assert "verification" not in json.loads(path.read_text())
    assert main(["verify", str(path), "--sample", "1"]) == 0
    path.write_text(json.dumps(hand_edited(0.5)(json.loads(path.read_text()))))
    entries = board(path, tmp_path)[0]["entries"]
    assert entries[0]["verification"] == "unverified (changed since verified)"


def test_the_board_refuses_an_entry_with_a_value_out_of_range(entry, tmp_path, capsys):
    path = copy_of(entry, tmp_path, hand_edited(1.5))
    assert main(["leaderboard", str(path), "--out", str(tmp_path / "board")]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"fedarena: error: {path}: refused entry: cell ")
    assert "ndcg@10 = 1.5 is outside [0, 1]" in error
    assert not (tmp_path / "board" / "LEADERBOARD.md").exists()


def test_the_board_shows_a_runtime_budget_override(entry, tmp_path):
    document, markdown, html = board(entry, tmp_path)
    assert document["entries"][0]["budget_override_s"] == 5.0
    assert "passed (runtime budget overridden: 5 s)" in markdown
    assert "passed (runtime budget overridden: 5 s)" in html


def test_an_entry_of_schema_1_is_read_without_source_and_not_verifiable(entry, tmp_path, capsys):
    def old(document: dict) -> dict:
        del document["source_text"]
        return {**document, "schema": "fedarena.entry/1"}

    path = copy_of(entry, tmp_path, old)
    assert "(source not included)" in board(path, tmp_path)[1]
    assert main(["verify", str(path)]) == 2
    assert "source not included (fedarena.entry/1)" in capsys.readouterr().err


def test_the_packaged_smoke_scenario_is_the_repository_one():
    packaged = Path(fedarena.__file__).parent / "scenarios" / "smoke.toml"
    repository = Path(__file__).parents[2] / "scenarios" / "smoke.toml"
    assert packaged.read_bytes() == repository.read_bytes()


def test_submit_checks_only_works_from_any_folder(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "fedarena.cli", "submit", "fedavg", "--checks-only"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "every check passed" in done.stdout
