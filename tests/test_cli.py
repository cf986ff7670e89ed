"""The CLI: a small run end to end, determinism, and one-line errors with exit code 2."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from fedarena.cli import main
from tiny import TINY, flags, toml

SMALL = [*flags(replace(TINY, rounds=3, local_epochs=3, baselines=True)), "--quiet"]


def _run(tmp_path, name, *extra):
    out = tmp_path / name
    assert main(["run", *SMALL, *extra, "--out", str(out)]) == 0
    return json.loads(out.read_text())


def test_run_writes_the_documented_result(tmp_path):
    result = _run(tmp_path, "r.json")
    assert result["schema"] == "fedarena.run/1"
    assert result["spec"]["rounds"] == 3
    for key in ("ndcg@10", "hr@10", "auc"):
        assert 0.0 <= result["final"][key] <= 1.0
        for baseline in ("popularity", "local", "centralised"):
            assert 0.0 <= result["baselines"][baseline][key] <= 1.0
    assert len(result["rounds"]) == 3
    assert {"wall_s", "per_round_s"} <= set(result["timings"])


def test_same_seed_same_numbers(tmp_path):
    a = _run(tmp_path, "a.json", "--seed", "5", "--no-baselines")
    b = _run(tmp_path, "b.json", "--seed", "5", "--no-baselines")
    c = _run(tmp_path, "c.json", "--seed", "6", "--no-baselines")
    assert a["final"] == b["final"]
    assert [r["train_loss"] for r in a["rounds"]] == [r["train_loss"] for r in b["rounds"]]
    assert a["final"] != c["final"]


def test_sequential_engine_gives_the_same_metrics(tmp_path):
    fast = _run(tmp_path, "v.json", "--no-baselines")
    slow = _run(tmp_path, "s.json", "--no-baselines", "--engine", "sequential")
    for key in ("ndcg@10", "hr@10", "auc"):
        assert fast["final"][key] == pytest.approx(slow["final"][key], abs=2e-3)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--rounds", "0"], "rounds must be in [1, 100000], got 0"),
        (["--clients-per-round", "-1"], "clients_per_round must be in [1, 1000000]"),
        (["--alpha", "0"], "alpha must be in [1e-06, 1e+06]"),
        # the hardening campaign's out-of-range numbers, tracebacks before
        (["--seed", "-1"], "seed must be in [0, 9223372036854775807], got -1"),
        (["--seed", "99999999999999999999"], "seed must be in [0, 9223372036854775807]"),
        (["--dim", "9223372036854775807"], "dim must be in [1, 1024]"),
        (["--items", "9223372036854775807"], "items must be in [1, 200000]"),
        (["--local-lr", "1e308"], "local_lr must be in [1e-08, 100]"),
        (["--local-lr", "nan"], "local_lr must be in [1e-08, 100], got nan"),
        (["--batch-size", "2147483648"], "batch_size must be in [1, 65536]"),
        (["--negatives-per-positive", "2147483648"], "negatives_per_positive must be in"),
        (["--clients-per-round", "70"], "exceeds shoppers"),
        (["--catalog", "/no/such/path"], "/no/such/path"),
        (["--catalog", ""], "catalog must be 'builtin' or a path"),  # not the current folder
        (["--catalog", "/dev/null"], "/dev/null: cannot list folder (Not a directory)"),
        (["--malicious-fraction", "0.5"], "malicious_fraction must be in"),
        (["--attack", "nope"], "unknown attack 'nope'"),
        (["--defense", "fedavg(x=1)"], "takes no option x"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, message, capsys):
    assert main(["run", *SMALL, *args]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_catalog_errors(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["run", *SMALL, "--catalog", str(tmp_path / "empty")]) == 2
    assert "holds no .csv file" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    bad.write_text("name,link\nx,y\n")
    assert main(["data", "inspect", str(bad)]) == 2
    assert "ratings" in capsys.readouterr().err


def test_output_under_a_file_is_refused_before_running(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["run", *SMALL, "--out", str(blocker / "r.json")]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err


def test_a_failed_write_keeps_the_result(tmp_path, capsys, monkeypatch):
    import fedarena.io

    def refuse(path, document, **options):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(fedarena.io, "write_json_atomic", refuse)
    assert main(["run", *SMALL, "--no-baselines", "--out", str(tmp_path / "r.json")]) == 2
    err = capsys.readouterr().err
    saved = err.rsplit("saved in ", 1)[1].strip()
    assert json.loads(Path(saved).read_text())["schema"] == "fedarena.run/1"


def test_every_component_takes_its_options_as_flags(tmp_path):
    out = tmp_path / "r.json"
    args = ["run", *flags(TINY), "--quiet", "--out", str(out)]
    args += ["--defense", "norm_clip > trimmed_mean", "--defense-opt", "beta=0.2"]
    args += ["--compression", "topk", "--compression-opt", "ratio=0.5"]
    args += ["--strategy", "fedavg", "--strategy-opt", "server_lr=0.5"]
    args += ["--attack", "gaussian", "--attack-opt", "std=2", "--malicious-fraction", "0.1"]
    assert main(args) == 0
    spec = json.loads(out.read_text())["spec"]
    # A chain's options go to its last link, the aggregator.
    assert spec["defense"] == "norm_clip > trimmed_mean(beta=0.2)"
    assert spec["compression"] == "topk(ratio=0.5)"
    assert spec["strategy"] == "fedavg(server_lr=0.5)"
    assert spec["attack"] == "gaussian(std=2)"


def test_every_scenario_field_is_a_run_flag(capsys):
    from dataclasses import fields

    from fedarena.scenario.spec import Scenario

    with pytest.raises(SystemExit):
        main(["run", "--help"])
    options = set(capsys.readouterr().out.replace("[", " ").replace("]", " ").split())
    for f in fields(Scenario):
        assert "--" + f.name.replace("_", "-") in options, f.name
    assert {"--defense-opt", "--compression-opt", "--no-baselines", "--config"} <= options


@pytest.mark.parametrize("command", ["run", "matrix", "leaderboard", "check", "submit", "list"])
def test_every_help_page_renders_and_names_the_threat_model_fields(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([command, "--help"])
    assert exit_.value.code == 0
    if command == "run":
        assert "--assumed-f" in capsys.readouterr().out


def test_old_spellings_of_the_scenario_file_still_work_and_say_so(tmp_path, capsys):
    scenario = tmp_path / "s.toml"
    scenario.write_text(toml(replace(TINY, rounds=1, baselines=True)))
    out = tmp_path / "o"
    assert main(["matrix", str(scenario), "--out", str(out), "--quiet"]) == 0
    assert "FILE is deprecated" in capsys.readouterr().err
    assert main(["matrix", "--scenario", str(scenario), "--out", str(out), "--quiet"]) == 0
    assert "deprecated" not in capsys.readouterr().err
    assert main(["submit", "median", "--matrix", str(scenario), "--checks-only"]) == 0
    assert "--matrix is deprecated" in capsys.readouterr().err


def test_messages_name_a_scenario_field_as_the_user_writes_it():
    """``local_epochs must ...``, never ``local epochs must ...``: the user types the field."""
    from dataclasses import fields

    from fedarena.errors import FedarenaError
    from fedarena.scenario.spec import Scenario
    from fedarena.training.local import LocalTraining

    src = Path(__file__).parents[1] / "src" / "fedarena"
    text = "\n".join(p.read_text() for p in src.rglob("*.py"))
    for f in fields(Scenario):
        prose = f.name.replace("_", " ")
        if prose != f.name:
            assert f"{prose} must" not in text, f.name
    for options, field in [
        ({"epochs": 0}, "local_epochs"),
        ({"lr": 0.0}, "local_lr"),
        ({"optimizer": "x"}, "local_optimizer"),
        ({"negatives_per_positive": -1}, "negatives_per_positive"),
    ]:
        with pytest.raises(FedarenaError, match=rf"^{field} must"):
            LocalTraining(**options)
