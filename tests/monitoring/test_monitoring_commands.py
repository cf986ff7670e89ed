"""``--metrics-port`` on ``fedarena run`` and ``fedarena matrix``: the exporter serves what
the run and its cells really did, scraped over HTTP; and a real Prometheus server scrapes a
running matrix until every cell is counted."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from dataclasses import replace

import pytest
from monitoring_helpers import scrape

from fedarena.cli import main
from tiny import TINY, flags, toml

pytest.importorskip("prometheus_client")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _value(samples, name, **labels) -> float:
    return sum(v for found, v in samples.get(name, []) if labels.items() <= found.items())


def test_run_exposes_every_round_and_the_privacy_spent(tmp_path):
    port = free_port()
    out = tmp_path / "r.json"
    args = [*flags(replace(TINY, rounds=3)), "--quiet", "--out", str(out)]
    args += ["--attack", "model_replacement", "--malicious-fraction", "0.2", "--defense", "dp_sgd"]
    assert main(["run", *args, "--metrics-port", str(port)]) == 0
    result = json.loads(out.read_text())
    samples = scrape(f"http://127.0.0.1:{port}/metrics")
    assert _value(samples, "fedarena_round", cell="") == 3
    assert _value(samples, "fedarena_rounds_total", cell="") == 3
    sampled = sum(r["n_sampled"] for r in result["rounds"])
    assert _value(samples, "fedarena_clients_total", outcome="sampled") == sampled
    malicious = sum(r["n_malicious_sampled"] for r in result["rounds"])
    assert _value(samples, "fedarena_update_norm_count", role="malicious") == malicious
    assert _value(samples, "fedarena_update_norm_count", role="benign") == sampled - malicious
    ndcg = _value(samples, "fedarena_utility", metric="ndcg@10")
    assert ndcg == pytest.approx(result["final"]["ndcg@10"])
    assert _value(samples, "fedarena_dp_epsilon") == pytest.approx(
        result["final"]["epsilon_shopper"]
    )
    assert _value(samples, "fedarena_global_model_norm") > 0


def test_a_busy_port_is_one_line_and_exit_2(capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["run", *flags(TINY), "--quiet", "--metrics-port", str(port)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"--metrics-port {port}: port in use" in err


def test_matrix_counts_its_cells_and_labels_each_cells_rounds(tmp_path):
    scenario = tmp_path / "m.toml"
    scenario.write_text(
        toml(replace(TINY, baselines=True)) + 'attack = ["none", "sign_flip"]\n'
        "malicious_fraction = 0.2\n"
    )
    port = free_port()
    args = ["matrix", "--scenario", str(scenario), "--out", str(tmp_path / "o"), "--quiet"]
    assert main([*args, "--workers", "2", "--metrics-port", str(port)]) == 0
    samples = scrape(f"http://127.0.0.1:{port}/metrics")
    cells = json.loads((tmp_path / "o" / "cells.json").read_text())["cells"]
    assert _value(samples, "fedarena_matrix_cells") == len(cells) == 2
    assert _value(samples, "fedarena_cells_finished_total", status="done") == 2
    assert _value(samples, "fedarena_cells_running") == 0
    for cell in cells:
        assert _value(samples, "fedarena_round", cell=cell["key"][:12]) == TINY.rounds


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("prometheus") is None, reason="no prometheus (make prometheus)")
def test_a_real_prometheus_scrapes_a_matrix_until_every_cell_is_counted(tmp_path):
    scenario = tmp_path / "m.toml"
    scenario.write_text(toml(replace(TINY, baselines=True)) + "seed = [0, 1, 2]\n")
    exporter, web = free_port(), free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: fedarena\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{exporter}']\n"
    )
    server = subprocess.Popen(
        [
            *("prometheus", f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'db'}"),
            f"--web.listen-address=127.0.0.1:{web}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        args = ["matrix", "--scenario", str(scenario), "--out", str(tmp_path / "o"), "--quiet"]
        assert main([*args, "--workers", "2", "--metrics-port", str(exporter)]) == 0
        query = urllib.parse.urlencode({"query": "sum(fedarena_cells_finished_total)"})
        deadline, counted = time.monotonic() + 60, None
        while time.monotonic() < deadline and counted != 3:
            time.sleep(1)
            try:
                url = f"http://127.0.0.1:{web}/api/v1/query?{query}"
                with urllib.request.urlopen(url, timeout=5) as response:
                    found = json.load(response)["data"]["result"]
            except OSError:  # the server is still starting
                continue
            counted = float(found[0]["value"][1]) if found else None
        assert counted == 3
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_events_are_one_json_line_per_round_and_per_cell(tmp_path):
    events = tmp_path / "events.jsonl"
    assert main(["run", *flags(TINY), "--quiet", "--events", str(events)]) == 0
    rounds = [json.loads(line) for line in events.read_text().splitlines()]
    assert [e["round"] for e in rounds] == [1, 2] and {e["kind"] for e in rounds} == {"round"}
    scenario = tmp_path / "m.toml"
    scenario.write_text(toml(replace(TINY, baselines=True)) + "seed = [0, 1]\n")
    args = ["matrix", "--scenario", str(scenario), "--out", str(tmp_path / "o"), "--quiet"]
    assert main([*args, "--events", str(events)]) == 0
    kinds = [json.loads(line)["kind"] for line in events.read_text().splitlines()][2:]
    assert kinds.count("matrix_start") == 1 and kinds.count("cell_end") == 2
    assert kinds.count("round") == 2 * TINY.rounds


def test_an_unwritable_events_file_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["run", *flags(TINY), "--quiet", "--events", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"events file {tmp_path}: cannot open for writing" in err
