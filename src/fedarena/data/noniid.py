"""How non-IID a population is: purchase shares and category-mix divergences."""

from __future__ import annotations

import numpy as np

from fedarena.data.catalog import Catalog
from fedarena.data.shoppers import Population


def js_divergence(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Jensen-Shannon divergence (base 2, in [0, 1]) between rows of ``p`` and ``q``.

    JS(p, q) = (KL(p || m) + KL(q || m)) / 2 with m = (p + q) / 2.
    """
    m = 0.5 * (p + q)

    def kl(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = np.where(a > 0, a * np.log2(a / np.where(b > 0, b, 1.0)), 0.0)
        return terms.sum(axis=-1)

    return 0.5 * (kl(p, m) + kl(q, m))


def noniid_stats(population: Population, catalog: Catalog) -> dict[str, float]:
    """Summary of per-client purchase shares and of each client's category-mix JS divergence."""
    n = len(population)
    owner = np.repeat(np.arange(n), population.n_train)
    bought = population.train_labels > 0.5
    purchases = np.bincount(owner[bought], minlength=n).astype(np.float64)
    share = purchases / purchases.sum()
    mix = np.zeros((n, catalog.n_main))
    np.add.at(mix, (owner[bought], catalog.main_category[population.train_items[bought]]), 1.0)
    global_mix = mix.sum(axis=0) / mix.sum()
    client_mix = mix / np.maximum(mix.sum(axis=1, keepdims=True), 1.0)
    js = js_divergence(client_mix, global_mix[None, :])
    sorted_share = np.sort(share)
    gini = 1.0 - 2.0 * np.sum(np.cumsum(sorted_share) - sorted_share / 2.0) / n
    return {
        "purchase_share_min": float(share.min()),
        "purchase_share_median": float(np.median(share)),
        "purchase_share_max": float(share.max()),
        "purchase_share_gini": float(gini),
        "js_divergence_mean": float(js.mean()),
        "js_divergence_median": float(np.median(js)),
        "js_divergence_max": float(js.max()),
    }
