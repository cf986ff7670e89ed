"""A round as an engine would report it, and a metrics scrape, for the monitoring tests."""

from __future__ import annotations

import urllib.request
from typing import Any


def round_args(round: int = 1, **overrides: Any) -> dict[str, Any]:
    """Keyword arguments of ``RoundObserver.on_round`` for a plausible attacked round."""
    args: dict[str, Any] = {
        "round": round,
        "seconds": 0.04,
        "sampled": 10,
        "rejected": 1,
        "flagged": 2,
        "benign_norms": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
        "malicious_norms": [50.0, float("nan")],
        "global_norm": 12.5,
        "metrics": {"ndcg@10": 0.25, "hr@10": 0.5},
        "epsilon": 1.5,
    }
    args.update(overrides)
    return args


def scrape(url: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """GET ``url`` (an exporter's /metrics) and parse it: sample name -> [(labels, value)]."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples
