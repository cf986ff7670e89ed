"""Min-sum (Shejwalkar & Houmansadr, "Manipulating the Byzantine", NDSS 2021)."""

from __future__ import annotations

from torch import Tensor

from fedarena.attacks.agr_agnostic import AgrAgnostic, squared_distances
from fedarena.attacks.base import ATTACKS


@ATTACKS.register("min_sum")
class MinSum(AgrAgnostic):
    """Min-sum, an AGR-agnostic attack of Shejwalkar & Houmansadr (NDSS 2021).

    Every malicious client sends ``x = mu - gamma p`` (perturbations and the
    search for ``gamma``: ``fedarena.attacks.agr_agnostic``) with the largest
    ``gamma`` such that the sum of its squared distances to the reference
    updates is no larger than that of some reference update:

        sum_i ||x - u_i||^2  <=  max_i sum_j ||u_i - u_j||^2

    (the paper's condition; the authors' released code compares with the
    minimum over ``i``, a stricter bound).
    """

    def bound(self, reference: Tensor) -> Tensor:
        return squared_distances(reference, reference).sum(dim=1).max()

    def score(self, x: Tensor, reference: Tensor) -> Tensor:
        return squared_distances(x, reference).sum()
