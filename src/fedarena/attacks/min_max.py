"""Min-max (Shejwalkar & Houmansadr, "Manipulating the Byzantine", NDSS 2021)."""

from __future__ import annotations

from torch import Tensor

from fedarena.attacks.agr_agnostic import AgrAgnostic, squared_distances
from fedarena.attacks.base import ATTACKS


@ATTACKS.register("min_max")
class MinMax(AgrAgnostic):
    """Min-max, an AGR-agnostic attack of Shejwalkar & Houmansadr (NDSS 2021).

    Every malicious client sends ``x = mu - gamma p`` (perturbations and the
    search for ``gamma``: ``fedarena.attacks.agr_agnostic``) with the largest
    ``gamma`` such that ``x`` is no farther from any reference update than any
    two of them are from each other:

        max_i ||x - u_i||  <=  max_{i,j} ||u_i - u_j||

    so that distance-based defenses cannot tell it from an honest update.
    """

    def bound(self, reference: Tensor) -> Tensor:
        return squared_distances(reference, reference).max()

    def score(self, x: Tensor, reference: Tensor) -> Tensor:
        return squared_distances(x, reference).max()
