"""``fedarena submit``: which cells it runs, the entry and its manifest, sharing results with
``fedarena matrix``, merging entries on the leaderboard, and its one-line errors."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import numpy
import pytest
import torch

import fedarena
from fedarena.cli import main
from fedarena.defenses import DefenseSpec
from fedarena.matrix.store import ResultStore
from fedarena.submission.submit import entry_name
from tiny import TINY, toml

DEFECTS = Path(__file__).with_name("defects.py")
SPEC = f"{DEFECTS}:NeedsOption(scale=1.0)"
MATRIX = (
    toml(replace(TINY, baselines=True))
    + """
malicious_fraction = 0.2
seed = [0, 1]
attack = ["none", "label_flip"]
defense = ["fedavg", "median"]
"""
)


@pytest.fixture(scope="module")
def submitted(tmp_path_factory):
    """A matrix run of MATRIX, then a submission of SPEC on the same file into the same folder."""
    folder = tmp_path_factory.mktemp("submit")
    matrix = folder / "tiny.toml"
    matrix.write_text(MATRIX)
    results = folder / "results"
    assert (
        main(
            [
                "matrix",
                "--scenario",
                str(matrix),
                "--out",
                str(results),
                "--workers",
                "2",
                "--quiet",
            ]
        )
        == 0
    )
    entry = folder / "entry.json"
    args = ["submit", SPEC, "--scenario", str(matrix), "--out", str(results), "--entry", str(entry)]
    assert main([*args, "--workers", "2", "--quiet"]) == 0
    return folder, json.loads(entry.read_text())


def test_the_entry_holds_the_matrix_cells_with_the_defense_and_fedavg(submitted):
    _, entry = submitted
    assert entry["schema"] == "fedarena.entry/2"
    assert entry["defense"] == SPEC
    found = {(c["spec"]["attack"], c["spec"]["defense"], c["spec"]["seed"]) for c in entry["cells"]}
    expected = {
        (attack, defense, seed)
        for attack in ("none", "label_flip")
        for defense in (SPEC, "fedavg")
        for seed in (0, 1)
    }
    assert found == expected
    assert all(c["status"] == "done" for c in entry["cells"])
    for cell in entry["cells"]:  # baselines are computed once, on the reference cells
        is_reference = cell["spec"]["attack"] == "none" and cell["spec"]["defense"] == "fedavg"
        assert cell["spec"]["baselines"] == is_reference


def test_the_fedavg_cells_are_shared_with_the_matrix_run(submitted):
    folder, entry = submitted
    with ResultStore.in_folder(folder / "results") as store:
        stored = {r.key: r for r in store.records()}
        matrix_session, submit_session = (s["id"] for s in store.sessions())
    assert len(stored) == 12  # 8 of the matrix (fedavg and median) + 4 of the submission
    for cell in entry["cells"]:
        assert stored[cell["key"]].as_dict() == cell
        session = submit_session if cell["spec"]["defense"] == SPEC else matrix_session
        assert cell["session"] == session
    assert [s["id"] for s in entry["sessions"]] == [matrix_session, submit_session]


def test_the_manifest_identifies_code_specs_packages_and_seeds(submitted):
    folder, entry = submitted
    manifest = entry["manifest"]
    specs = sorted(
        json.dumps(c["spec"], sort_keys=True, separators=(",", ":")) for c in entry["cells"]
    )
    text = json.dumps({"specs": specs, "version": fedarena.__version__}, separators=(",", ":"))
    assert manifest["spec_sha256"] == hashlib.sha256(text.encode()).hexdigest()
    sources = {Path(path).resolve(): digest for path, digest in manifest["sources"].items()}
    assert sources == {DEFECTS.resolve(): hashlib.sha256(DEFECTS.read_bytes()).hexdigest()}
    versions = manifest["versions"]
    assert versions["fedarena"] == fedarena.__version__
    assert versions["torch"] == torch.__version__ and versions["numpy"] == numpy.__version__
    assert {"flwr", "opacus", "python"} <= set(versions)
    assert manifest["seeds"] == [0, 1]
    matrix = folder / "tiny.toml"
    assert manifest["matrix"]["sha256"] == hashlib.sha256(matrix.read_bytes()).hexdigest()
    assert manifest["counts"] == {"done": 8, "failed": 0, "skipped": 0}
    checks = manifest["conformance"]["checks"]
    assert [c["status"] for c in checks] == ["pass"] * 6 and manifest["conformance"]["passed"]


def test_the_leaderboard_merges_entries_with_matrix_results(submitted):
    folder, entry_document = submitted
    entry = folder / "entry.json"
    assert main(["leaderboard", str(entry), "--out", str(folder / "alone")]) == 0
    alone = json.loads((folder / "alone" / "leaderboard.json").read_text())
    (panel,) = alone["panels"]
    assert {r["defense"] for r in panel["ranking"]} == {SPEC, "fedavg"}
    (summary,) = alone["entries"]
    assert summary["defense"] == SPEC
    assert summary["spec_sha256"] == entry_document["manifest"]["spec_sha256"]
    markdown = (folder / "alone" / "LEADERBOARD.md").read_text()
    assert "## Submitted entries" in markdown and summary["spec_sha256"][:12] in markdown

    merged_out = folder / "merged"
    assert main(["leaderboard", str(folder / "results"), str(entry), "--out", str(merged_out)]) == 0
    merged = json.loads((merged_out / "leaderboard.json").read_text())
    (panel,) = merged["panels"]
    assert {r["defense"] for r in panel["ranking"]} == {SPEC, "fedavg", "median"}
    assert len(merged["cells"]) == 12  # the entry's cells are the store's: each counts once
    assert len(merged["runs"]) == 2


def test_defaults_share_the_matrix_folder_and_name_the_entry(tiny_matrix, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    matrix = tiny_matrix(name="small.toml")
    assert main(["submit", f"{DEFECTS}:Conforming", "--scenario", str(matrix), "--quiet"]) == 0
    entry = json.loads((tmp_path / "submissions" / "conforming.json").read_text())
    assert entry["manifest"]["matrix"]["results"] == "results/small"
    assert (tmp_path / "results" / "small" / "results.sqlite").is_file()


def _error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize(
    "spec, flags, message",
    [
        ("krumm", [], "defense 'krumm': unknown defense 'krumm'; known: bucketing"),
        ("absent.py:Guard", [], "defense 'absent.py:Guard': file absent.py does not exist"),
        ("median(f=", [], "'median(f=' is not of the form name or name(key=value, ...)"),
        ("median", ["--budget", "0"], "--budget must be > 0 seconds, got 0.0"),
        ("median", ["--grid", "nope"], "no grid named 'nope'; grids: tiny"),
        ("median", ["--workers", "0"], "--workers must be >= 1, got 0"),
        ("median", ["--check-timeout", "0"], "cell time limit must be > 0 seconds, got 0.0"),
    ],
)
def test_bad_input_is_one_line_and_exit_2_before_any_check(
    tiny_matrix, tmp_path, capsys, spec, flags, message
):
    args = ["submit", spec, "--scenario", str(tiny_matrix()), "--out", str(tmp_path / "o")]
    assert main([*args, "--entry", str(tmp_path / "e.json"), *flags]) == 2
    assert message in _error(capsys)
    assert not (tmp_path / "o").exists() and not (tmp_path / "e.json").exists()


def test_missing_matrix_and_unwritable_entry(tiny_matrix, tmp_path, capsys):
    assert main(["submit", "median", "--scenario", str(tmp_path / "no.toml")]) == 2
    assert "no.toml: no such scenario file" in _error(capsys)
    blocker = tmp_path / "file"
    blocker.write_text("")
    args = [
        "submit",
        "median",
        "--scenario",
        str(tiny_matrix()),
        "--entry",
        str(blocker / "e.json"),
    ]
    assert main(args) == 2
    assert "is a file, not a folder" in _error(capsys)


@pytest.mark.parametrize(
    "spec, name",
    [
        ("norm_trim.py:NormTrim", "normtrim"),
        ("norm_clip(max_norm=2) > lib/x.py:NormTrim(f=2)", "normtrim-f-2"),
        ("pkg.module:Guard(scale=0.5)", "guard-scale-0-5"),
        ("krum", "krum"),
    ],
)
def test_the_default_entry_is_named_after_the_last_link(spec, name):
    assert entry_name(DefenseSpec.parse(spec)) == name
