"""``fedarena run`` under hostile flags and component specs: it runs, or it refuses in one
line with exit status 2; never a traceback."""

from __future__ import annotations

import pytest
from fuzz_settings import fuzz, one_line_error
from hypothesis import event, given
from hypothesis import strategies as st

from fedarena.attacks import ATTACKS
from fedarena.cli import main
from fedarena.compression import COMPRESSORS
from fedarena.defenses import DEFENSES
from fedarena.registry import accepted_options
from fedarena.strategies import STRATEGIES

BASE = "--rounds 1 --shoppers 30 --clients-per-round 10 --items 300 --dim 4 --local-epochs 1"
HOSTILE = ["-1", "0", "2147483648", "9223372036854775808", "1e308", "nan", "inf", "x", "", "0x10"]
# Per flag: small values that run in a moment, and values out of range; no value in range
# but slow, so every example finishes in about a second.
FLAG_VALUES = {
    "--seed": ["0", "7", "-1", "99999999999999999999"],
    "--rounds": ["1", "2", "100001"],
    "--shoppers": ["1", "12", "30", "1000001"],
    "--clients-per-round": ["1", "10", "31", "1000001"],
    "--items": ["1", "199", "300", "200001"],
    "--dim": ["1", "4", "1025"],
    "--alpha": ["1e-7", "0.3", "1e7"],
    "--local-epochs": ["1", "101"],
    "--batch-size": ["1", "64", "65537"],
    "--local-lr": ["1e-9", "0.05", "101", "1e308"],
    "--negatives-per-positive": ["0", "4", "101", "1.5"],
    "--eval-every": ["1", "100001"],
    "--malicious-fraction": ["0", "0.2", "0.99", "1", "1.5"],
    "--assumed-f": ["bound", "expected", "oracle", "0", "3", "-1", "huge"],
    "--engine": ["vectorised", "sequential", "warp"],
    "--local-optimizer": ["sgd", "adam", "lbfgs"],
    "--catalog": ["builtin", "/etc/passwd", "/dev/null", "/tmp", "", "a" * 5000],
}
OPTION_VALUES = ["-1", "0", "0.5", "1", "3", "2**31", "1e13", "1e308", "'x'", "True", "[1, 2]"]
REGISTRIES = {
    "--attack": ATTACKS,
    "--defense": DEFENSES,
    "--strategy": STRATEGIES,
    "--compression": COMPRESSORS,
}


@st.composite
def component_flag(draw):
    flag = draw(st.sampled_from(sorted(REGISTRIES)))
    registry = REGISTRIES[flag]
    name = draw(st.sampled_from(registry.names()))
    options = [*accepted_options(registry.factory(name)), *registry.shared, "bogus"]
    chosen = draw(st.lists(st.sampled_from(options), max_size=2, unique=True))
    args = ", ".join(f"{key}={draw(st.sampled_from(OPTION_VALUES))}" for key in chosen)
    return [flag, f"{name}({args})" if args else name]


@st.composite
def argv(draw):
    words = ["run", *BASE.split(), "--no-baselines", "--quiet"]
    for flag in draw(st.lists(st.sampled_from(sorted(FLAG_VALUES)), max_size=3, unique=True)):
        words += [flag, draw(st.sampled_from(FLAG_VALUES[flag] + HOSTILE))]
    for _ in range(draw(st.integers(0, 2))):
        words += draw(component_flag())
    return words


@fuzz
@given(words=argv())
def test_run_either_runs_or_refuses_in_one_line(words, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    try:
        status = main(words)
    except SystemExit as exit:  # argparse's own refusals (a value that is not a number)
        status = exit.code
    stderr = capsys.readouterr().err
    event(f"exit status {status}")
    assert status in (0, 2), stderr
    if status == 2:
        assert one_line_error(stderr) or stderr.strip().splitlines()[-1].startswith(
            "fedarena run: error:"
        ), stderr


@pytest.mark.parametrize("flag", sorted(REGISTRIES))
def test_every_component_builds_with_its_defaults(flag, capsys, tmp_path, monkeypatch):
    """The fuzzing above is not vacuous: a plain spec of each kind runs (status 0)."""
    monkeypatch.chdir(tmp_path)
    name = {"--attack": "label_flip", "--defense": "krum", "--strategy": "fedprox"}.get(
        flag, "topk"
    )
    assert main(["run", *BASE.split(), "--no-baselines", "--quiet", flag, name]) == 0
