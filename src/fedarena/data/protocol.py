"""The federated-recommendation literature's evaluation protocol over an interaction log.

As in NCF (He et al., WWW 2017) and the FedRec papers that reuse its split
(FedMF, Chai et al. 2020; FedRecAttack, Rong et al. ICDE 2022; PipAttack,
Zhang et al. WSDM 2022):

- leave-one-out by time: each user's latest interaction is its test item and
  the rest is its training data. Interactions with equal timestamps keep the
  order of the source file (``InteractionLog``'s order), so of several tied
  latest interactions the one logged last is held out;
- the test item is ranked against 99 items drawn uniformly, without
  replacement, among the items the user never interacted with, in training or
  test (``sample_negatives``);
- the same non-IID statistics as the shop (``noniid_stats``), with an
  interaction in place of a purchase and genres in place of main categories.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fedarena.data.interactions import InteractionLog
from fedarena.data.negatives import untouched_items
from fedarena.data.noniid import noniid_summary
from fedarena.errors import DataError

N_NEGATIVES = 99


@dataclass(frozen=True, eq=False)
class LeaveOneOut:
    """Each user's training items (CSR, oldest first) and its one held-out test item.

    User ``u`` trains on ``train_items[train_ptr[u]:train_ptr[u + 1]]`` and is
    tested on ``test_items[u]``, its latest interaction.
    """

    train_ptr: np.ndarray
    train_items: np.ndarray
    test_items: np.ndarray

    def __len__(self) -> int:
        return len(self.test_items)

    @property
    def n_train(self) -> np.ndarray:
        """Number of training interactions per user (FedAvg's weights)."""
        return np.diff(self.train_ptr)

    def train_of(self, user: int) -> np.ndarray:
        """The items user ``user`` trains on, oldest first."""
        return self.train_items[self.train_ptr[user] : self.train_ptr[user + 1]]


def leave_one_out(log: InteractionLog) -> LeaveOneOut:
    """Hold out each user's latest interaction (ties: the one logged last).

    Every user of a loaded log has at least two interactions, so every user
    keeps at least one training item.

    >>> import numpy as np
    >>> log = InteractionLog(
    ...     user=np.array([0, 0, 0]), item=np.array([2, 0, 1]), timestamp=np.array([1, 2, 3]),
    ...     rating=None, user_ids=np.array([7]), item_ids=np.array([10, 11, 12]),
    ...     item_category=np.zeros(3, dtype=int), categories=("all",))
    >>> split = leave_one_out(log)
    >>> split.train_of(0).tolist(), split.test_items.tolist()
    ([2, 0], [1])
    """
    ptr = log.user_ptr
    last = ptr[1:] - 1
    if (np.diff(ptr) < 2).any():
        user = _shown(log.user_ids[int(np.argmax(np.diff(ptr) < 2))])
        raise DataError(f"user {user} has one interaction; leave-one-out needs at least two")
    train = np.ones(len(log), dtype=bool)
    train[last] = False
    return LeaveOneOut(
        train_ptr=ptr - np.arange(len(ptr)),
        train_items=log.item[train],
        test_items=log.item[last],
    )


def sample_negatives(
    log: InteractionLog, rng: np.random.Generator, n_negatives: int = N_NEGATIVES
) -> np.ndarray:
    """For each user, ``n_negatives`` distinct items it never interacted with, sorted.

    Uniform without replacement over the user's never-interacted items: every
    item gets an independent uniform key, interacted items an infinite one, and
    the ``n_negatives`` smallest keys win. Keys are drawn user after user from
    ``rng``, so the result depends only on the generator's state. Returns an
    int64 array of shape ``(n_users, n_negatives)``.

    Raises ``DataError`` naming a user who interacted with so many items that
    fewer than ``n_negatives`` remain.
    """
    if isinstance(n_negatives, bool) or not isinstance(n_negatives, int | np.integer):
        raise ValueError(f"n_negatives must be an integer, got {n_negatives!r}")
    if n_negatives < 0:
        raise ValueError(f"n_negatives must be >= 0, got {n_negatives}")
    ptr = log.user_ptr
    room = log.n_items - np.diff(ptr)
    if (room < n_negatives).any():
        at = int(np.argmax(room < n_negatives))
        raise DataError(
            f"user {_shown(log.user_ids[at])} interacted with {log.n_items - room[at]} of "
            f"{log.n_items} items, leaving {room[at]}; {n_negatives} negatives need that many"
        )
    return untouched_items(np.arange(log.n_users), ptr, log.item, log.n_items, n_negatives, rng)


def noniid_stats(log: InteractionLog, split: LeaveOneOut) -> dict[str, float]:
    """The shop's non-IID summary (``fedarena.data.noniid``) on the training interactions.

    Same keys as the shop's, so that the two worlds line up: the share of all
    training interactions that each client holds (min, median, max, Gini) and
    the Jensen-Shannon divergence of each client's category mix from the
    global mix (mean, median, max).
    """
    n = len(split)
    owner = np.repeat(np.arange(n), split.n_train)
    category = log.item_category[split.train_items]
    return noniid_summary(owner, category, n, len(log.categories))


def _shown(user_id: object) -> str:
    """A user id as an error shows it: ``7`` for a MovieLens id, ``'alice'`` for a CSV one."""
    return repr(user_id.item() if isinstance(user_id, np.generic) else user_id)
