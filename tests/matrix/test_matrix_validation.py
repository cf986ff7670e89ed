"""Every bad input of a scenario file is one line, exit status 2, when the file is read: before
any cell runs, and as ``fedarena run`` would say it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fedarena.cli import main
from fedarena.errors import SpecError
from fedarena.matrix.file import load_matrix

# The reproduction's shop: every test here refuses it before a cell would start.
SHOP = "rounds = 1\nshoppers = 30\nclients_per_round = 10\nitems = 300\ndim = 4\n"
HEADER = "name,main_category,sub_category,link,ratings,no_of_ratings,discount_price,actual_price\n"


def _refused(path: Path, capsys, *flags: str) -> str:
    """Run ``fedarena matrix`` on ``path``: exit 2, one line, no store; the line."""
    out = path.parent / "out"
    assert main(["matrix", "--scenario", str(path), "--out", str(out), "--quiet", *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fedarena: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    assert not out.exists()  # refused before anything ran or was written
    return err


def _file(tmp_path: Path, body: str, name: str = "bad.toml") -> Path:
    path = tmp_path / name
    path.write_text(body)
    return path


@pytest.mark.parametrize(
    "line, message",
    [
        (
            'defense = ["krum(f=-1)", "norm_clip(max_norm=nan)"]',
            "defense = 'krum(f=-1)': defense 'krum': f must be an integer >= 0, got -1",
        ),
        (
            'defense = ["fedavg", "norm_clip(max_norm=nan)"]',
            "defense 'norm_clip': max_norm must be > 0 or median, got 'nan'",
        ),
        ('defense = "norm_clip > krum(f=-1)"', "defense 'krum': f must be an integer >= 0"),
        ('strategy = "fedprox(mu=-1)"', "strategy 'fedprox': mu must be >= 0, got -1"),
        ('compression = "topk(ratio=0)"', "compression 'topk': ratio must be in (0, 1], got 0"),
        ('attack = ["none", "label_flip(ratio=2)"]', "attack 'label_flip': "),
        ('defense = "fedavg(beta=1)"', "defense 'fedavg' takes no option beta"),
        # an attack is built with the cell's catalog: the built-in one of 300 items
        (
            'attack = "model_replacement(targets=[5000])"',
            "targets must be item indices in [0, 300), got [5000]",
        ),
    ],
)
def test_an_invalid_option_of_any_component_is_refused_at_load(tmp_path, capsys, line, message):
    err = _refused(_file(tmp_path, SHOP + line + "\n"), capsys)
    assert re.search(r"bad\.toml:6: grid 'bad': \w+ = ", err), err
    assert message in err


def test_skip_unknown_skips_unknown_names_but_not_invalid_options(tmp_path, capsys):
    path = _file(tmp_path, SHOP + 'defense = ["not_yet_written", "krum(f=-1)"]\n')
    err = _refused(path, capsys, "--skip-unknown")
    assert "defense 'krum': f must be an integer >= 0, got -1" in err
    skipped = load_matrix(_file(tmp_path, SHOP + 'defense = ["fedavg", "not_yet_written"]\n'))
    assert list(skipped.problems()) == ["not_yet_written"]


def test_a_tuned_setting_is_built_too(tmp_path):
    body = (
        SHOP + 'defense = "norm_clip"\ntune = true\n[tuning_grid]\nnorm_clip = {max_norm = [1.0]}\n'
    )
    assert len(load_matrix(_file(tmp_path, body)).cells()) > 1


def test_cross_field_checks_name_the_line(tmp_path, capsys):
    err = _refused(_file(tmp_path, SHOP.replace("shoppers = 30", "shoppers = 5")), capsys)
    assert "bad.toml:3: grid 'bad': clients_per_round (10) exceeds shoppers (5)" in err


@pytest.mark.parametrize(
    "catalog, message",
    [
        ("/etc/passwd", "catalog: /etc/passwd: "),
        ("{tmp}/empty", "empty: folder holds no .csv file"),
        ("/dev/null", "/dev/null: cannot list folder (Not a directory)"),
        ("", "catalog must be 'builtin' or a path"),
        ("{tmp}/header.csv", "header.csv: no row has both an ASIN in its link and a price"),
        ("{tmp}/" + "n" * 5000, "characters): cannot use it as a catalog (File name too long)"),
    ],
    ids=["passwd", "no-csv", "dev-null", "empty", "header-only", "name-too-long"],
)
def test_a_catalog_that_run_would_refuse_is_refused_at_load(tmp_path, capsys, catalog, message):
    (tmp_path / "header.csv").write_text(HEADER)
    (tmp_path / "empty").mkdir()
    catalog = catalog.format(tmp=tmp_path)
    err = _refused(_file(tmp_path, SHOP + f'catalog = "{catalog}"\n'), capsys)
    assert message in err and "bad.toml:6: " in err
    assert len(err) < 400  # a long name is shortened


def test_a_catalog_is_checked_once_per_path(tmp_path, monkeypatch):
    import fedarena.matrix.file

    (tmp_path / "shop.csv").write_text(
        HEADER + "x,a,b,https://www.amazon.in/x/dp/B000000001/r,4.0,3,₹5,₹9\n"
    )
    checked = []
    monkeypatch.setattr(fedarena.matrix.file, "check_amazon", checked.append)
    body = SHOP + f'catalog = ["{tmp_path}/shop.csv", "builtin"]\nseed = [0, 1]\n'
    body += '[[grid]]\nname = "a"\n[[grid]]\nname = "b"\n'
    load_matrix(_file(tmp_path, body))
    assert checked == [f"{tmp_path}/shop.csv"]


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "bad.toml: empty scenario file: set at least one field, e.g. rounds = 30"),
        ("# nothing yet\n\n", "bad.toml: scenario file sets no field: set at least one"),
        ('# a plan\ndescription = "later"\n', "bad.toml: scenario file sets no field"),
        ("a=" + "[" * 3000 + "\n", "bad.toml: invalid TOML: arrays or tables nested too deeply"),
    ],
    ids=["zero-bytes", "comments", "description-only", "nested-3000-deep"],
)
def test_a_file_that_sets_nothing_or_nests_too_deeply_is_one_line(tmp_path, capsys, text, message):
    assert message in _refused(_file(tmp_path, text), capsys)


def test_a_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf" + SHOP.encode() + b"seed = [1, 2]\n")
    matrix = load_matrix(path)
    assert {c.seed for c in matrix.cells()} == {1, 2}
    assert matrix.text == path.read_text(encoding="utf-8")  # the session hashes the file as is
    with pytest.raises(SpecError, match=r"bom\.toml:1: unknown key 'roundz'"):
        path.write_bytes(b"\xef\xbb\xbfroundz = 1\n")
        load_matrix(path)


def test_a_scenario_file_that_is_not_utf8_is_one_line(tmp_path, capsys):
    path = tmp_path / "latin.toml"
    path.write_bytes(SHOP.encode() + b'description = "caf\xe9"\n')
    assert "latin.toml: not UTF-8 text (byte " in _refused(path, capsys)


def test_assumed_f_takes_a_mode_or_an_integer(tmp_path):
    """A field typed ``str | int`` (a traceback before, ``KeyError: 'str | int'``)."""
    matrix = load_matrix(_file(tmp_path, SHOP + 'assumed_f = [2, "expected"]\n'))
    assert {c.scenario.assumed_f for c in matrix.cells()} >= {2, "expected"}
    with pytest.raises(SpecError, match=r"bad\.toml:6: assumed_f must be a string or an integer"):
        load_matrix(_file(tmp_path, SHOP + "assumed_f = true\n"))


def test_a_catalog_too_small_to_evaluate_is_refused_as_run_refuses_it(tmp_path, capsys):
    """Issue #16: ``items = 100`` ran every cell to a failure (exit 1) where ``fedarena run
    --items 100`` is one line, exit 2."""
    assert main(["run", "--items", "100", "--rounds", "1", "--quiet"]) == 2
    ran = capsys.readouterr().err.removeprefix("fedarena: error: ").strip()
    assert ran.startswith("catalog has 100 items; evaluation ranks each held-out purchase")
    err = _refused(_file(tmp_path, SHOP.replace("items = 300", "items = 100")), capsys)
    assert err.strip().endswith(ran) and "bad.toml:4: " in err
