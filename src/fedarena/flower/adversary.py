"""The server-side adversary hook: where a coalition's or an omniscient attack crafts in Flower.

In a real federation a malicious client holds only its own update. An attack
that declares more knowledge needs information that exists only where the
round's updates meet:

- ``own``: the adversary controls all its malicious clients and crafts from
  their honest updates together (ALIE, IPM, min-max from the coalition's own
  data, coordinated Sybils). Its clients pool their updates over a channel of
  their own; the hook stands in for that channel and gives the attack the
  malicious clients' updates only. ``public`` (FedRecAttack) likewise, with the
  public interactions it drew at enrolment.
- ``omniscient``: the attack also reads the benign updates of the round (a
  compromised aggregator, or colluders watching the traffic); the hook gives
  it every well-formed update, as the in-process engine does.

Either way the malicious clients send their honest (possibly poisoned) updates
and the hook replaces them after the replies arrive and before anything else
looks at them, with the round's shared generator, so the Flower and in-process
engines agree. Attacks that know nothing (``none``: noise, garbage) craft on
their clients instead (``fedarena.flower.client_app``).

The hook knows who is malicious from the scenario's ground truth, which the
benchmark holds for scoring; the defense never sees it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from torch import Tensor

from fedarena.attacks import Attack, AttackContext
from fedarena.engine import guard

CRAFTS_ON_SERVER = frozenset({"own", "public", "omniscient"})


def craft_on_server(
    attack: Attack, sent: list[Any], malicious: Tensor, dim: int, ctx: AttackContext
) -> list[Any]:
    """``sent`` with the malicious clients' well-formed updates replaced by the attack's craft.

    ``ctx`` is the round's context without ``benign_updates``, which the hook
    fills in for an omniscient attack. Replies that are not well-formed updates
    stay as they are, for the server to reject.
    """
    if attack.knowledge not in CRAFTS_ON_SERVER:
        return sent
    well_formed = [guard.is_well_formed(update, dim) for update in sent]
    coalition = [i for i, ok in enumerate(well_formed) if ok and bool(malicious[i])]
    if not coalition:
        return sent
    if attack.knowledge == "omniscient":
        rows = [i for i, ok in enumerate(well_formed) if ok]
    else:
        rows = coalition
    updates, _ = guard.screen([sent[i] for i in rows], dim)
    is_malicious = malicious[rows]
    benign = updates[~is_malicious] if attack.knowledge == "omniscient" else None
    crafted = attack.craft(updates, is_malicious, replace(ctx, benign_updates=benign))
    out = list(sent)
    for i, update in zip(rows, crafted, strict=False):
        out[i] = update
    return out
