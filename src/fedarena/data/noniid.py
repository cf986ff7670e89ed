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


def noniid_summary(
    owner: np.ndarray, category: np.ndarray, n_clients: int, n_categories: int
) -> dict[str, float]:
    """Per-client shares of the counted interactions (min, median, max, Gini) and each
    client's category-mix JS divergence from the global mix (mean, median, max), from one
    (client, category) pair per counted interaction. The keys say ``purchase`` because the
    shop counts purchases; an interaction log counts its training interactions."""
    mix = np.zeros((n_clients, n_categories))
    np.add.at(mix, (owner, category), 1.0)
    counts = mix.sum(axis=1)
    share = counts / counts.sum()
    global_mix = mix.sum(axis=0) / mix.sum()
    client_mix = mix / np.maximum(counts[:, None], 1.0)
    js = js_divergence(client_mix, global_mix[None, :])
    sorted_share = np.sort(share)
    gini = 1.0 - 2.0 * np.sum(np.cumsum(sorted_share) - sorted_share / 2.0) / n_clients
    return {
        "purchase_share_min": float(share.min()),
        "purchase_share_median": float(np.median(share)),
        "purchase_share_max": float(share.max()),
        "purchase_share_gini": float(gini),
        "js_divergence_mean": float(js.mean()),
        "js_divergence_median": float(np.median(js)),
        "js_divergence_max": float(js.max()),
    }


def noniid_stats(population: Population, catalog: Catalog) -> dict[str, float]:
    """The non-IID summary of a shop's population, over its logged purchases."""
    n = len(population)
    owner = np.repeat(np.arange(n), population.n_train)
    bought = population.train_labels > 0.5
    category = catalog.main_category[population.train_items[bought]]
    return noniid_summary(owner[bought], category, n, catalog.n_main)
