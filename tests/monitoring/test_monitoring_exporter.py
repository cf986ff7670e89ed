"""The HTTP exporter: scraped over real HTTP, and a busy port named in one line."""

from __future__ import annotations

import socket

import pytest

pytest.importorskip(
    "prometheus_client", reason="prometheus-client is not installed (extra: monitoring)"
)

from monitoring_helpers import round_args, scrape

from fedarena.errors import FedarenaError
from fedarena.monitoring.exporter import HOST_ENV, start_exporter
from fedarena.monitoring.metrics import Metrics, PrometheusMatrixObserver, PrometheusRoundObserver


@pytest.fixture()
def metrics() -> Metrics:
    return Metrics()


def test_metrics_are_scraped_over_http(metrics: Metrics) -> None:
    exporter = start_exporter(0, metrics.registry)
    try:
        assert exporter.url == f"http://127.0.0.1:{exporter.port}/metrics"
        matrix = PrometheusMatrixObserver(metrics)
        matrix.on_matrix_start(3, 0)
        matrix.on_cell_start()
        matrix.on_cell_end("done", 2.0)
        PrometheusRoundObserver(metrics, "c0").on_round(**round_args(7))
        samples = scrape(exporter.url)
    finally:
        exporter.close()
    assert samples["fedarena_matrix_cells"] == [({}, 3.0)]
    assert ({"status": "done"}, 1.0) in samples["fedarena_cells_finished_total"]
    assert samples["fedarena_round"] == [({"cell": "c0"}, 7.0)]


def test_a_port_in_use_is_one_line_naming_the_port(metrics: Metrics) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(FedarenaError) as caught:
            start_exporter(port, metrics.registry)
    message = str(caught.value)
    assert message.startswith(f"--metrics-port {port}: port in use (127.0.0.1:{port}")
    assert "\n" not in message


def test_the_error_names_the_option_the_user_gave(metrics: Metrics) -> None:
    with pytest.raises(FedarenaError, match=r"^metrics_port 70000: must be a TCP port"):
        start_exporter(70000, metrics.registry, option="metrics_port")


def test_close_releases_the_port(metrics: Metrics) -> None:
    exporter = start_exporter(0, metrics.registry)
    port = exporter.port
    exporter.close()
    again = start_exporter(port, metrics.registry)
    again.close()
    assert again.port == port


def test_the_host_comes_from_the_environment_when_not_given(
    metrics: Metrics, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(HOST_ENV, "127.0.0.2")
    try:
        exporter = start_exporter(0, metrics.registry)
    except FedarenaError:
        pytest.skip("127.0.0.2 is not a loopback address on this machine")
    exporter.close()
    assert exporter.host == "127.0.0.2"
