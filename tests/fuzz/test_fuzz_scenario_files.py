"""Scenario files, well-formed or not: a file loads into cells, or ``fedarena matrix``
refuses it in one line with exit status 2 before any cell runs; never a traceback."""

from __future__ import annotations

import math

from fuzz_settings import fuzz, one_line_error
from hypothesis import event, given
from hypothesis import strategies as st

from fedarena.cli import main
from fedarena.errors import FedarenaError
from fedarena.matrix.file import FIELD_TYPES, load_matrix

KEYS = [*sorted(FIELD_TYPES), "grid", "description", "tuning_grid", "tune", "bogus", "seed "]
SCALARS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, 2, 30, 300, 0.2, 1e308, -0.0, math.inf, math.nan, True, False]),
    st.sampled_from(["builtin", "krum(f=-1)", "norm_clip(max_norm=nan)", "fedprox(mu=-1)"]),
    st.sampled_from(["topk(ratio=0)", "krum(**x)", "sybil(identities=1000000000)", ""]),
    st.sampled_from(["/etc/passwd", "/dev/null", "/tmp", "a" * 300, "model_replacement"]),
    st.text(max_size=8),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(KEYS), inner, max_size=2)
    ),
    max_leaves=6,
)


def toml_value(value) -> str:
    """``value`` as a TOML value (inline tables for dicts)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f'"{k}" = {toml_value(v)}' for k, v in value.items()) + "}"


BASE = {"rounds": 1, "shoppers": 30, "clients_per_round": 10, "items": 300, "dim": 4}


@st.composite
def scenario_text(draw) -> bytes:
    document = dict(BASE) if draw(st.booleans()) else {}
    document |= draw(st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=4))
    text = "".join(f'"{k}" = {toml_value(v)}\n' for k, v in document.items())
    if draw(st.booleans()):
        text += '[[grid]]\nname = "g"\n' + "".join(
            f'"{k}" = {toml_value(v)}\n'
            for k, v in draw(st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=2)).items()
        )
    raw = text.encode()
    mutation = draw(st.sampled_from(["none", "bom", "truncate", "bytes", "deep", "empty"]))
    if mutation == "bom":
        raw = b"\xef\xbb\xbf" + raw
    elif mutation == "truncate" and raw:
        raw = raw[: draw(st.integers(0, len(raw) - 1))]
    elif mutation == "bytes":
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + draw(st.binary(min_size=1, max_size=4)) + raw[at:]
    elif mutation == "deep":
        depth = draw(st.sampled_from([10, 600, 3000]))
        raw += b"x = " + b"[" * depth + b"]" * depth + b"\n"
    elif mutation == "empty":
        raw = b""
    return raw


@fuzz
@given(raw=scenario_text())
def test_a_scenario_file_loads_or_is_refused_in_one_line(raw, tmp_path_factory):
    path = tmp_path_factory.mktemp("fuzz") / "scenario.toml"
    path.write_bytes(raw)
    try:
        matrix = load_matrix(path)
    except FedarenaError as err:
        event("refused")
        assert str(err) and "\n" not in str(err).strip()
        return
    event("loaded")
    assert matrix.cells()


def test_a_refused_file_is_exit_status_2_with_one_line(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text('defense = ["krum(f=-1)"]\nrounds = 1\n')
    assert main(["matrix", "--scenario", str(path), "--out", str(tmp_path / "out")]) == 2
    assert one_line_error(capsys.readouterr().err)
