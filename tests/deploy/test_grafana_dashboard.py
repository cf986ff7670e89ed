"""The Grafana dashboard: every query names what the exporter serves; the SDK reads the JSON."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest
import yaml

pytest.importorskip(
    "prometheus_client", reason="prometheus-client is not installed (extra: monitoring)"
)

from deploy_helpers import DEPLOY, ROOT, missing_from, selectors

from fedarena.monitoring.exporter import start_exporter
from fedarena.monitoring.metrics import Metrics, PrometheusMatrixObserver, PrometheusRoundObserver

sys.path.insert(0, str(ROOT / "tests" / "monitoring"))
from monitoring_helpers import round_args, scrape

DASHBOARD = DEPLOY / "grafana" / "dashboards" / "fedarena.json"
GENERATOR = DEPLOY / "grafana" / "generate_dashboard.py"


def panels() -> list[dict]:
    return [p for p in json.loads(DASHBOARD.read_text())["panels"] if p["type"] != "row"]


def expressions() -> list[str]:
    board = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in panels() for t in p["targets"]]
    for variable in board["templating"]["list"]:
        metric, label = re.fullmatch(r"label_values\((\w+), *(\w+)\)", variable["query"]).groups()
        exprs.append(f'{metric}{{{label}=~".*"}}')
    return exprs


@pytest.fixture(scope="module")
def exposed() -> dict[str, set[str]]:
    """Sample name -> label names, scraped over HTTP from an exporter fed a few calls."""
    metrics = Metrics()
    exporter = start_exporter(0, metrics.registry)
    try:
        matrix = PrometheusMatrixObserver(metrics)
        matrix.on_matrix_start(4, 1)
        for status in ("done", "failed"):
            matrix.on_cell_start()
            matrix.on_cell_end(status, 3.0)
        rounds = PrometheusRoundObserver(metrics, cell="alie/krum/seed0")
        for r in (1, 2):
            rounds.on_round(**round_args(r))
        samples = scrape(exporter.url)
    finally:
        exporter.close()
    return {name: {k for labels, _ in rows for k in labels} for name, rows in samples.items()}


def test_every_panel_has_a_query_on_the_provisioned_data_source() -> None:
    source = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yaml").read_text()
    )
    uid = source["datasources"][0]["uid"]
    assert len(panels()) >= 10
    for panel in panels():
        assert panel["targets"], panel["title"]
        assert panel["datasource"]["uid"] == uid, panel["title"]
        assert all(t["datasource"]["uid"] == uid for t in panel["targets"]), panel["title"]


@pytest.mark.parametrize("expr", expressions())
def test_every_query_names_only_exposed_metrics_and_labels(
    expr: str, exposed: dict[str, set[str]]
) -> None:
    found = selectors(expr)
    assert found, f"no metric in {expr!r}"
    for name, labels in found:
        assert name in exposed, f"{name} (in {expr!r}) is not exposed by the exporter"
        assert labels <= exposed[name] | {"le"}, f"{name}: labels {labels - exposed[name]}"


def test_the_reader_sees_a_wrong_name() -> None:
    assert selectors("rate(fedarena_cells_done[1m])") == [("fedarena_cells_done", set())]


def test_the_json_is_what_the_sdk_models_read_and_write() -> None:
    pytest.importorskip(
        "grafana_foundation_sdk", reason="grafana-foundation-sdk is not installed (extra: deploy)"
    )
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.cog.plugins import register_default_plugins
    from grafana_foundation_sdk.models.dashboard import Dashboard
    from grafana_foundation_sdk.models.prometheus import Dataquery

    register_default_plugins()
    data = json.loads(DASHBOARD.read_text())
    decoded = Dashboard.from_json(data)
    # Decoding adds the models' defaults; it must keep every key and value of the file
    # (a key the schema does not know would be dropped) and type every query as PromQL.
    again = json.loads(json.dumps(decoded, cls=JSONEncoder))
    assert missing_from(data, again) == []
    targets = [t for p in decoded.panels if p.type_val != "row" for t in p.targets]
    assert targets and all(isinstance(t, Dataquery) for t in targets)


def test_the_sdk_check_notices_a_key_it_does_not_know() -> None:
    assert missing_from({"a": 1, "b": {"c": 2}}, {"a": 1, "b": {}}) == ["/b/c"]


def test_the_checked_in_json_is_the_generators_output() -> None:
    pytest.importorskip(
        "grafana_foundation_sdk", reason="grafana-foundation-sdk is not installed (extra: deploy)"
    )
    spec = importlib.util.spec_from_file_location("generate_dashboard", GENERATOR)
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    assert Path(generator.OUT) == DASHBOARD
    assert generator.render() == DASHBOARD.read_text(), "run deploy/grafana/generate_dashboard.py"
