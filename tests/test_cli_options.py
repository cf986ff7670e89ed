"""The CLI as a new user types it: ``--version``, ``run --config``, ``run --seed 0 1 2``,
``list`` with plurals, defaults and descriptions, the help pages, and the mode of the
files it writes."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from dataclasses import replace

import pytest

from fedarena import __version__
from fedarena.cli import main
from tiny import TINY, flags, toml


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"fedarena {__version__}\n"


def test_help_builds_run_flags_only_for_run(capsys):
    """``fedarena --help`` does not build ``run``'s flags (they import torch); ``run`` does."""
    from fedarena.cli import build_parser

    parser = build_parser()
    run = parser._subparsers._group_actions[0].choices["run"]
    with pytest.raises(SystemExit):
        parser.parse_args(["--help"])
    assert "--rounds" not in run._option_string_actions
    with pytest.raises(SystemExit):
        parser.parse_args(["run", "--help"])
    assert "--rounds" in run._option_string_actions


def test_help_imports_no_torch():
    code = (
        "import sys\nfrom fedarena.cli import main\ntry:\n    main(['--help'])\n"
        "except SystemExit:\n    pass\nassert 'torch' not in sys.modules, 'torch imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_local_training_flags_have_help_and_choices(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    page = " ".join(capsys.readouterr().out.split())
    assert "--local-optimizer {sgd,adam} local optimiser (default: adam)" in page
    for words in ("local epochs per round", "local minibatch size", "local learning rate"):
        assert words in page
    assert "negative items per purchase in local training" in page


def _config(tmp_path, text):
    path = tmp_path / "shop.toml"
    path.write_text(text)
    return path


def test_config_values_are_defaults_and_flags_override_them(tmp_path):
    config = _config(tmp_path, toml(replace(TINY, rounds=2, dim=4, alpha=0.5)))
    out = tmp_path / "r.json"
    # --dim 16 is the built-in default: said on the command line, it still wins over the file.
    args = ["run", "--config", str(config), "--rounds", "1", "--dim", "16", "--quiet"]
    assert main([*args, "--out", str(out)]) == 0
    spec = json.loads(out.read_text())["spec"]
    assert (spec["rounds"], spec["dim"], spec["alpha"]) == (1, 16, 0.5)
    assert spec["shoppers"] == TINY.shoppers and spec["baselines"] is False


@pytest.mark.parametrize(
    "text, message",
    [
        ('attack = ["none", "sign_flip"]\n', "attack lists 2 values (several cells); give one "),
        ("seed = [0, 1]\n", "run the file with fedarena matrix --scenario"),
        ('[[grid]]\nname = "a"\nrounds = 1\n[[grid]]\nname = "b"\nrounds = 2\n', "[[grid]] tables"),
        ("roundz = 3\n", "shop.toml:1: unknown key 'roundz'"),
        ("rounds = 0\n", "rounds must be in [1, 100000], got 0"),
        ("rounds = \n", "invalid TOML"),
    ],
)
def test_a_config_that_is_not_one_scenario_is_one_line(tmp_path, capsys, text, message):
    config = _config(tmp_path, text)
    assert main(["run", "--config", str(config), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and err.startswith("fedarena: error: ")


def test_a_missing_config_is_one_line(tmp_path, capsys):
    assert main(["run", "--config", str(tmp_path / "no.toml")]) == 2
    assert "no.toml: no such scenario file" in capsys.readouterr().err


def test_several_seeds_run_each_and_show_the_mean(tmp_path, capsys):
    args = ["run", *flags(TINY), "--seed", "3", "4"]
    assert main([*args, "--out", str(tmp_path / "r.json")]) == 0
    screen = capsys.readouterr().out
    runs = [json.loads((tmp_path / f"r.seed{s}.json").read_text()) for s in (3, 4)]
    assert [r["spec"]["seed"] for r in runs] == [3, 4]
    assert not (tmp_path / "r.json").exists()
    assert "seed 3 (1 of 2)" in screen and "seed 4 (2 of 2)" in screen
    values = [r["final"]["ndcg@10"] for r in runs]
    mean, sd = statistics.mean(values), statistics.stdev(values)
    row = next(line for line in screen.splitlines() if line.startswith("│ ndcg@10 "))
    assert f"{values[0]:.4f}" in row and f"{mean:.4f} ± {sd:.4f}" in row
    assert "r.seed3.json, " in screen
    # Each seed's run is the single-seed run of that seed.
    assert (
        main(["run", *flags(TINY), "--seed", "4", "--quiet", "--out", str(tmp_path / "one.json")])
        == 0
    )
    assert json.loads((tmp_path / "one.json").read_text())["final"] == runs[1]["final"]


def test_a_seed_given_twice_is_refused(capsys):
    assert main(["run", *flags(TINY), "--seed", "1", "1"]) == 2
    assert "--seed: seed 1 is given twice" in capsys.readouterr().err


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664)])
def test_out_files_get_the_mode_of_any_new_file(tmp_path, umask, mode):
    out = tmp_path / "r.json"
    before = os.umask(umask)
    try:
        assert main(["run", *flags(TINY), "--quiet", "--out", str(out)]) == 0
    finally:
        os.umask(before)
    assert out.stat().st_mode & 0o777 == mode
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_list_takes_plurals_and_shows_defaults_and_descriptions(capsys):
    assert main(["list", "defenses", "strategies"]) == 0
    screen = capsys.readouterr().out
    assert "tau=10.0, iterations=1" in screen and "Coordinate-wise trimmed mean" in screen
    assert "server_lr=1.0" in screen and "attack (" not in screen
    assert main(["list", "attacks", "--json"]) == 0
    listed = {c["name"]: c for c in json.loads(capsys.readouterr().out)}
    assert listed["gaussian"]["defaults"] == {"mean": "0.0", "std": "1.0"}
    assert listed["gaussian"]["description"].startswith("Gaussian attack (Blanchard et al.")
    assert "report_examples" in listed["gaussian"]["options"]
    assert main(["list", "defence"]) == 2
    assert "unknown kind 'defence'; kinds: attack, defense, strategy, compression" in (
        capsys.readouterr().err
    )
