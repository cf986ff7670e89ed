"""FedAttack (Wu et al., "FedAttack: Effective and Covert Poisoning Attack on Federated
Recommendation via Hard Sampling", KDD 2022): malicious clients train on the hardest samples."""

from __future__ import annotations

import numpy as np

from fedarena.attacks.base import ATTACKS, Attack
from fedarena.training.local import Examples, LocalTraining


@ATTACKS.register("fedattack")
class FedAttack(Attack):
    """FedAttack: each malicious client swaps its samples for the ones its model finds hardest.

    *Knowledge* (``none``): its own data, its private embedding ``u`` and the global model,
    as every client has. With ``s_i`` its score of every item under the round's global model
    (the reference ranks by ``u . v_i``, which is FedMF's score), a malicious client keeps
    the number of its samples and the local training of an honest client, and rewrites
    each sample (the reference's globally hardest sampling, one negative per positive):

    - its positive becomes the item it likes least, ``argmin_i s_i``;
    - its negative becomes the item it likes most, ``argmax_i s_i``, skipping the sample's
      own interacted item (with ``bpr``: the pair's positive; with ``bce``, whose samples
      are not paired, every item of the client's positives).

    Training on them pulls what users like down and what they dislike up: untargeted, and
    as large as an honest update, hence covert. The reference's malicious fraction is 5 %
    (of real users, taken over).

    >>> scores = np.array([0.1, 0.9, -0.5, 0.7])  # items 0..3: 1 liked most, 2 least
    >>> examples = (np.array([1, 3, 0, 0]), np.array([1.0, 1, 0, 0]), np.ones(4))  # (1, 0), (3, 0)
    >>> FedAttack().poison_scored(examples, scores, LocalTraining(loss="bpr"))[0]
    array([2, 2, 3, 1])
    """

    acts_on = frozenset({"data"})
    knowledge = "none"
    goal = "untargeted"
    uses_scores = True

    def poison_scored(
        self, examples: Examples, scores: np.ndarray, local: LocalTraining
    ) -> Examples:
        items, labels, weights = examples
        order = np.argsort(-scores, kind="stable")  # most liked first
        hard = items.copy()
        if local.loss == "bpr":
            n = len(items) // 2
            hard[n:] = np.where(items[:n] == order[0], order[1], order[0])
            hard[:n] = order[-1]
        else:
            positive = labels > 0.5
            allowed = order[~np.isin(order, items[positive])]
            hard[~positive] = allowed[0] if len(allowed) else order[0]
            hard[positive] = order[-1]
        return hard, labels, weights
