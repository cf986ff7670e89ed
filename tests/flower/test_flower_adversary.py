"""The server-side hook crafts for coalition and omniscient attacks, with what they may know."""

from __future__ import annotations

import torch
from flower_fakes import AntiMean, Junk, ScaledFlip

from fedarena.attacks import AttackContext
from fedarena.flower.adversary import craft_on_server

D = 6


def _ctx() -> AttackContext:
    return AttackContext(
        round=0,
        global_params=torch.zeros(D),
        n_clients=5,
        server_gain=1.0,
        generator=torch.Generator().manual_seed(0),
    )


def _round():
    updates = [torch.full((D,), float(i)) for i in range(5)]
    malicious = torch.tensor([False, True, False, True, False])
    return updates, malicious


def test_an_attack_that_knows_nothing_crafted_on_its_clients():
    updates, malicious = _round()
    Junk.seen = []
    assert craft_on_server(Junk(), updates, malicious, D, _ctx()) is updates
    assert Junk.seen == []


def test_a_coalition_sees_only_its_own_updates():
    updates, malicious = _round()
    ScaledFlip.seen = []
    sent = craft_on_server(ScaledFlip(), updates, malicious, D, _ctx())
    assert ScaledFlip.seen == [(2, 2, False)]
    # -2 * mean of the malicious rows 1 and 3 = -4; benign rows untouched.
    for i in (1, 3):
        assert torch.equal(sent[i], torch.full((D,), -4.0))
    for i in (0, 2, 4):
        assert sent[i] is updates[i]


def test_an_omniscient_attack_also_sees_the_benign_updates():
    updates, malicious = _round()
    AntiMean.seen = []
    sent = craft_on_server(AntiMean(), updates, malicious, D, _ctx())
    assert AntiMean.seen == [(5, 2, True)]
    # minus the benign mean (0 + 2 + 4) / 3 = -2, up to 1e-3 noise
    for i in (1, 3):
        torch.testing.assert_close(sent[i], torch.full((D,), -2.0), atol=1e-2, rtol=0)


def test_malformed_replies_are_neither_shown_nor_replaced():
    updates, malicious = _round()
    updates[3] = torch.full((D,), float("nan"))
    updates[0] = None
    ScaledFlip.seen = []
    sent = craft_on_server(ScaledFlip(), updates, malicious, D, _ctx())
    assert ScaledFlip.seen == [(1, 1, False)]
    assert torch.equal(sent[1], torch.full((D,), -2.0))
    assert sent[0] is None and sent[3].isnan().all()


def test_no_malicious_client_no_craft():
    updates, _ = _round()
    AntiMean.seen = []
    sent = craft_on_server(AntiMean(), updates, torch.zeros(5, dtype=torch.bool), D, _ctx())
    assert sent is updates and AntiMean.seen == []
