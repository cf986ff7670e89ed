"""``fedarena run --compression ...``: bytes reported, malformed senders still rejected, errors."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest

from fedarena.cli import main
from tiny import TINY, flags

SMALL = [*flags(replace(TINY, local_epochs=3)), "--quiet"]

NAN_ATTACK = """
import torch
from fedarena.attacks.base import Attack


class NaNSender(Attack):
    acts_on = frozenset({"update"})
    goal = "targeted"  # no clean comparison run needed

    def craft(self, updates, malicious, ctx):
        return [torch.full_like(u, float("nan")) if m else u for u, m in zip(updates, malicious)]
"""


def _run(tmp_path, *flags):
    out = tmp_path / "r.json"
    assert main(["run", *SMALL, *flags, "--out", str(out)]) == 0
    return json.loads(out.read_text())


def test_bytes_per_client_per_round_follow_each_encoding(tmp_path):
    plain = _run(tmp_path, "--compression", "none")
    d = plain["model"]["shared_parameters"]
    assert d > 2**8  # two-byte indices below
    assert plain["final"]["bytes_per_client_per_round"] == 4 * d
    topk = _run(tmp_path, "--compression", "topk(ratio=0.05)")
    k = round(0.05 * d)
    assert topk["final"]["bytes_per_client_per_round"] == 4 + k * (4 + 2)
    qsgd = _run(tmp_path, "--compression", "qsgd(bits=4, bucket=256)")
    assert qsgd["final"]["bytes_per_client_per_round"] == 4 * math.ceil(d / 256) + math.ceil(
        d * 4 / 8
    )
    for result in (topk, qsgd):
        assert result["final"]["ndcg@10"] > 0
        assert result["final"]["ndcg@10"] != plain["final"]["ndcg@10"]


def test_same_seed_same_numbers_with_stochastic_compression(tmp_path):
    a = _run(tmp_path, "--compression", "qsgd(bits=2)", "--seed", "3")
    b = _run(tmp_path, "--compression", "qsgd(bits=2)", "--seed", "3")
    c = _run(tmp_path, "--compression", "qsgd(bits=2)", "--seed", "4")
    assert a["final"] == b["final"]
    assert a["final"] != c["final"]


@pytest.mark.parametrize("compression", ["topk(ratio=0.1)", "qsgd"])
def test_malformed_senders_are_still_rejected_after_compression(tmp_path, compression):
    plugin = tmp_path / "nan_attack.py"
    plugin.write_text(NAN_ATTACK)
    result = _run(
        tmp_path,
        "--compression",
        compression,
        "--attack",
        f"{plugin}:NaNSender",
        "--malicious-fraction",
        "0.3",
        "--rounds",
        "3",
    )
    rounds = result["rounds"]
    assert sum(r["n_malicious_sampled"] for r in rounds) > 0
    assert [r["n_rejected"] for r in rounds] == [r["n_malicious_sampled"] for r in rounds]
    assert not any(r["skipped_step"] for r in rounds)
    assert 0 < result["final"]["ndcg@10"] <= 1


@pytest.mark.parametrize(
    "compression, message",
    [
        ("gzip", "unknown compression 'gzip'; known: none, qsgd, topk"),
        ("topk(k=10)", "compression 'topk' takes no option k; its options: ratio"),
        ("topk(ratio=2)", "ratio must be in (0, 1], got 2"),
        ("qsgd(bits=9)", "bits must be an integer in [2, 8], got 9"),
    ],
)
def test_bad_compression_is_one_line_and_exit_2(compression, message, capsys):
    assert main(["run", *SMALL, "--compression", compression]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err
