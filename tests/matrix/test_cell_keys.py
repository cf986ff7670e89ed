"""Cell keys: equal exactly when the same code would compute the same numbers."""

from __future__ import annotations

from fedarena.defenses import DefenseSpec
from fedarena.matrix.cell import Cell, is_reference, with_twins
from fedarena.scenario.spec import Scenario


def test_spellings_of_one_spec_share_a_key():
    a = Cell.of(Scenario(defense="trimmed_mean( beta = 0.1 )", malicious_fraction=0))
    b = Cell.of(Scenario(defense="trimmed_mean(beta=0.1)", malicious_fraction=0.0))
    assert a.key == b.key
    assert str(a.scenario.defense) == "trimmed_mean(beta=0.1)"
    assert isinstance(a.scenario.malicious_fraction, float)


def test_seed_version_and_any_field_change_the_key():
    base = Cell.of(Scenario())
    assert Cell.of(Scenario(seed=1)).key != base.key
    assert Cell.of(Scenario(), version="9.9").key != base.key
    assert Cell.of(Scenario(rounds=31)).key != base.key


def test_family_is_the_cell_without_its_seed():
    assert Cell.of(Scenario(seed=1)).family == Cell.of(Scenario(seed=2)).family
    assert Cell.of(Scenario(alpha=0.5)).family != Cell.of(Scenario()).family


def test_editing_a_plugin_file_changes_the_key(tmp_path):
    plugin = tmp_path / "d.py"
    plugin.write_text("class D: pass\n")
    scenario = Scenario(defense=f"{plugin}:D")
    before = Cell.of(scenario).key
    assert Cell.of(scenario).key == before
    plugin.write_text("class D:\n    x = 1\n")
    assert Cell.of(scenario).key != before


def test_chains_split_on_top_level_arrows_only():
    assert str(DefenseSpec.parse("bucketing( s=2 ) >krum")) == "bucketing(s=2) > krum"


def test_a_cell_comes_with_its_clean_twin_and_its_reference():
    cell, clean, reference = with_twins(
        Scenario(attack="label_flip", defense="krum", malicious_fraction=0.1), False
    )
    assert str(clean.scenario.attack) == "none" and str(clean.scenario.defense) == "krum"
    assert str(reference.scenario.defense) == "fedavg"
    assert [is_reference(c.scenario) for c in (cell, clean, reference)] == [False, False, True]
    # Only the reference computes the baselines, once per population.
    assert [c.scenario.baselines for c in (cell, clean, reference)] == [False, False, True]


def test_a_reference_is_its_own_twin():
    assert len(with_twins(Scenario(), False)) == 1
    assert len(with_twins(Scenario(defense="krum"), False)) == 2
