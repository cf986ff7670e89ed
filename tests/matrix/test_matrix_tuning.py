"""Tuned matrices: each defense swept over its grid, the swept ones also on the tuning seeds."""

from __future__ import annotations

import re

import pytest

from fedarena.cli import main
from fedarena.defenses import DEFENSES
from fedarena.errors import SpecError
from fedarena.matrix.file import Tuning, Variant, load_matrix

TUNED = """\
attack = "label_flip"
malicious_fraction = 0.2
seed = [0, 1]
defense = ["fedavg", "norm_clip", "trimmed_mean(beta=0.1)"]
tune = true
tuning_seeds = [7]

[tuning_grid]
norm_clip = { max_norm = [1.0, 2.0] }
"""


def _cells(path, grids=None):
    return {
        (str(c.scenario.attack), str(c.scenario.defense), c.seed)
        for c in load_matrix(path).cells(grids)
    }


def test_each_setting_is_a_cell_and_the_swept_defenses_also_run_on_the_tuning_seeds(
    write_matrix,
):
    clipped = ["norm_clip(max_norm=1.0)", "norm_clip(max_norm=2.0)"]
    expected = {
        *(("none", "fedavg", s) for s in (0, 1, 7)),  # the references, tuning seed included
        *(("label_flip", "fedavg", s) for s in (0, 1)),
        *((a, d, s) for a in ("label_flip", "none") for d in clipped for s in (0, 1, 7)),
        # an explicit beta is kept, so nothing is swept and nothing runs on seed 7
        *((a, "trimmed_mean(beta=0.1)", s) for a in ("label_flip", "none") for s in (0, 1)),
    }
    path = write_matrix(TUNED)
    assert _cells(path) == expected
    assert len(load_matrix(path).cells()) == len(expected)


def test_the_tuning_names_each_setting_and_the_seeds_it_is_chosen_on(write_matrix):
    tuning = load_matrix(write_matrix(TUNED)).tuning()
    assert tuning == Tuning(
        frozenset({7}),
        {
            "norm_clip(max_norm=1.0)": Variant("norm_clip", (("max_norm", 1.0),)),
            "norm_clip(max_norm=2.0)": Variant("norm_clip", (("max_norm", 2.0),)),
        },
    )
    assert tuning.variants["norm_clip(max_norm=2.0)"].name == "norm_clip (max_norm=2.0)"


def test_without_an_override_the_class_grid_is_swept(write_matrix):
    path = write_matrix('defense = "centered_clipping"\ntune = true\n')
    taus = DEFENSES.factory("centered_clipping").tuning_grid["tau"]
    assert len(taus) > 1
    defenses = {d for _, d, _ in _cells(path)}
    assert defenses == {"fedavg", *(f"centered_clipping(tau={t!r})" for t in taus)}


def test_options_a_link_sets_are_kept_and_a_chain_names_options_by_link(write_matrix):
    path = write_matrix(
        'defense = ["norm_clip(max_norm=1.0) > trimmed_mean", "bucketing > trimmed_mean"]\n'
        "tune = true\ntuning_seeds = [9]\n"
        "[tuning_grid]\ntrimmed_mean = { beta = [0.1, 0.2] }\nbucketing = { s = [2, 3] }\n"
    )
    tuning = load_matrix(path).tuning()
    assert {text: v.name for text, v in tuning.variants.items()} == {
        "norm_clip(max_norm=1.0) > trimmed_mean(beta=0.1)": (
            "norm_clip(max_norm=1.0) > trimmed_mean (beta=0.1)"
        ),
        "norm_clip(max_norm=1.0) > trimmed_mean(beta=0.2)": (
            "norm_clip(max_norm=1.0) > trimmed_mean (beta=0.2)"
        ),
        **{
            f"bucketing(s={s}) > trimmed_mean(beta={b})": (
                f"bucketing > trimmed_mean (bucketing.s={s}, trimmed_mean.beta={b})"
            )
            for s in (2, 3)
            for b in (0.1, 0.2)
        },
    }
    assert {d for _, d, _ in _cells(path)} == {"fedavg", *tuning.variants}


def test_a_sweep_without_tuning_seeds_runs_every_setting_and_chooses_none(write_matrix):
    path = write_matrix(TUNED.replace("tuning_seeds = [7]\n", ""))
    assert {s for _, _, s in _cells(path)} == {0, 1}
    assert len({d for _, d, _ in _cells(path)}) == 4
    assert load_matrix(path).tuning() == Tuning()


def test_tune_applies_to_its_own_grid_only(write_matrix):
    path = write_matrix(
        'defense = "norm_clip"\ntuning_seeds = [7]\n'
        '[[grid]]\nname = "tuned"\ntune = true\n'
        '[[grid]]\nname = "plain"\nattack = "label_flip"\n'
    )
    matrix = load_matrix(path)
    assert {d for _, d, _ in _cells(path, ["plain"])} == {"fedavg", "norm_clip"}
    assert len({d for _, d, _ in _cells(path, ["tuned"])}) == 5  # 4 settings and fedavg
    assert matrix.tuning(["plain"]) == Tuning()
    assert matrix.tuning(["tuned"]).seeds == {7}


def test_plugins_are_swept_only_by_the_file_and_never_imported(write_matrix, tmp_path):
    bomb = tmp_path / "bomb.py"
    bomb.write_text("raise SystemExit('imported')\n")
    plugin = f"{bomb}:Anything"
    assert {d for _, d, _ in _cells(write_matrix(f'defense = "{plugin}"\ntune = true\n'))} == {
        "fedavg",
        plugin,
    }
    path = write_matrix(
        f'defense = "{plugin}"\ntune = true\n[tuning_grid]\n"{plugin}" = {{k = [1, 2]}}\n'
    )
    assert {d for _, d, _ in _cells(path)} == {"fedavg", f"{plugin}(k=1)", f"{plugin}(k=2)"}


@pytest.mark.parametrize(
    "body, message",
    [
        (
            'defense = "norm_clip"\ntune = true\n'
            "[tuning_grid]\nnorm_clip = {max_norm = [1.0, -1]}\n",
            r"m\.toml:11: tuning_grid: norm_clip\(max_norm=-1\): max_norm must be > 0 or median, "
            r"got -1",
        ),
        (
            'defense = "norm_clip"\ntune = true\n[tuning_grid]\nnorm_clip = {clip = [1.0]}\n',
            r"m\.toml:11: tuning_grid: norm_clip\(clip=1.0\): .*takes no option clip",
        ),
        (
            'defense = "trimmed_mean(f=2)"\ntune = true\n',
            r"m\.toml:9: grid 'm': tuning defense 'trimmed_mean\(f=2\)' at beta=0.1: "
            r"give f or beta, not both",
        ),
        (
            'seed = [0, 1]\ndefense = "norm_clip"\ntune = true\ntuning_seeds = [1, 2]\n',
            r"m\.toml:11: grid 'm': tuning seed 1 is also a reported seed",
        ),
        (  # no seed key: the reported seed is the default, 0
            'defense = "norm_clip"\ntune = true\ntuning_seeds = [0]\n',
            r"grid 'm': tuning seed 0 is also a reported seed",
        ),
        (
            'defense = "norm_clip"\ntuning_seeds = [5]\n'
            '[[grid]]\nname = "a"\ntune = true\n[[grid]]\nname = "b"\nseed = [5]\n',
            r"grid 'a': tuning seed 5 is also a reported seed \(seed of grid 'b'\)",
        ),
        ("tuning_seeds = [5]\n", r"m\.toml:8: tuning_seeds has no effect without tune = true"),
        ('tune = "yes"\n', r"m\.toml:8: tune must be true or false, got 'yes'"),
        ("tune = true\ntuning_seeds = [5, 5]\n", r"tuning_seeds lists a seed twice"),
        (
            'defense = ["norm_clip", "norm_clip(max_norm=2.0)"]\ntune = true\n',
            r"grid 'm': tuning 'norm_clip' and 'norm_clip\(max_norm=2.0\)' both give defense "
            r"'norm_clip\(max_norm=2.0\)'; list one of them",
        ),
    ],
)
def test_bad_tuning_is_one_line_naming_what_is_wrong(write_matrix, body, message):
    with pytest.raises(SpecError, match=message) as caught:
        load_matrix(write_matrix(body))
    assert "\n" not in str(caught.value)


def test_a_grid_value_out_of_range_exits_2_before_anything_runs(write_matrix, tmp_path, capsys):
    path = write_matrix(
        'defense = "norm_clip"\ntune = true\n[tuning_grid]\nnorm_clip = {max_norm = [-1]}\n'
    )
    out = tmp_path / "o"
    assert main(["matrix", "--scenario", str(path), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert re.search(r"tuning_grid: norm_clip\(max_norm=-1\): max_norm must be > 0", err)
    assert not out.exists()
