"""What ``fedarena run`` shows on screen: the numbers a scenario is about, every long phase
announced and timed, plain progress lines in a log, and the whole command's wall time."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import replace

from fedarena.cli import main
from tiny import TINY, flags

ATTACKED = [*flags(replace(TINY, dim=4)), "--malicious-fraction", "0.2"]


def _run(tmp_path, capsys, *args):
    """``fedarena run ARGS --out r.json``: what it printed, and the result it wrote."""
    out = tmp_path / "r.json"
    assert main(["run", *args, "--out", str(out)]) == 0
    return capsys.readouterr().out, json.loads(out.read_text())


def _row(screen: str, key: str) -> list[str]:
    """The cells of the table row that starts with ``key``."""
    line = next(line for line in screen.splitlines() if re.match(rf"^\W*{re.escape(key)} ", line))
    return [cell.strip() for cell in re.split(r"[│┃]", line) if cell.strip()]


def test_a_targeted_attack_shows_er10_target_rank_and_detection(tmp_path, capsys):
    screen, result = _run(tmp_path, capsys, *ATTACKED, "--attack", "model_replacement")
    final = result["final"]
    assert _row(screen, "er@10")[1] == f"{final['er@10']:.4f}"
    assert _row(screen, "target_rank")[1] == f"{final['target_rank']:.1f}"
    for key in ("detection_precision", "detection_recall", "detection_auc"):
        assert _row(screen, key)[0] == key
    bytes_sent = _row(screen, "bytes_per_client_per_round")[1]
    assert bytes_sent == f"{final['bytes_per_client_per_round']:,.0f}"
    assert "ndcg@10_drop" not in screen  # a targeted attack is measured by exposure


def test_an_untargeted_attack_shows_its_drop_and_announces_the_clean_run(tmp_path, capsys):
    screen, result = _run(tmp_path, capsys, *ATTACKED, "--attack", "sign_flip")
    assert _row(screen, "ndcg@10_drop")[1] == f"{result['final']['ndcg@10_drop']:.4f}"
    assert "er@10" not in screen
    lines = screen.splitlines()
    start = lines.index("clean comparison run: the same scenario with attack = none, same seed ...")
    rounds = [i for i, line in enumerate(lines) if line.startswith("clean run round ")]
    end = [
        i for i, line in enumerate(lines) if re.fullmatch(r"clean comparison run: [\d.]+ s", line)
    ]
    assert start < rounds[0] and len(rounds) == 2 and rounds[-1] < end[0]


def test_a_clean_run_without_attack_shows_no_attack_metrics(tmp_path, capsys):
    screen, _ = _run(tmp_path, capsys, *flags(TINY))
    assert "bytes_per_client_per_round" in screen
    assert "detection_precision" not in screen and "er@10" not in screen
    assert "clean comparison run" not in screen


def test_dp_shows_epsilon_and_its_accounting_is_not_counted_as_baselines(
    tmp_path, capsys, monkeypatch
):
    from fedarena.defenses.dp_sgd import DpSgdAccountant

    spent = DpSgdAccountant.spent

    def slow(self):
        time.sleep(0.5)
        return spent(self)

    monkeypatch.setattr(DpSgdAccountant, "spent", slow)
    screen, result = _run(tmp_path, capsys, *flags(TINY), "--defense", "dp_sgd")
    assert _row(screen, "epsilon_shopper")[1] == f"{result['final']['epsilon_shopper']:.3g}"
    timings = result["timings"]
    assert timings["baselines_s"] < 0.5 <= timings["accounting_s"]
    assert "final metrics: the popularity baseline and the privacy spent ..." in screen
    assert re.search(r"final metrics: \d+\.\d s \(baselines \d+\.\d s, privacy accounting", screen)
    assert "privacy accounting" in screen.splitlines()[-1]


def test_the_wall_time_printed_is_the_whole_commands(tmp_path, capsys):
    start = time.perf_counter()
    screen, result = _run(tmp_path, capsys, *ATTACKED, "--attack", "sign_flip")
    took = time.perf_counter() - start
    wall = float(re.search(r"^wall (\d+\.\d) s", screen, re.MULTILINE).group(1))
    t = result["timings"]
    assert wall >= t["wall_s"] + t["clean_s"] - 0.05  # the clean twin's time included
    assert abs(wall - took) < 0.3


def test_a_slow_engine_start_is_announced_and_timed(tmp_path, capsys, monkeypatch):
    """``--engine flower``'s Ray start was ~25 s of silence; a stand-in engine that takes 0.4 s
    to start shows the same lines without starting Ray."""
    import fedarena.scenario.run as scenario_run

    def slow_start(scenario, on_round, observer=None):
        time.sleep(0.4)
        return scenario_run.run_in_process(scenario, on_round, observer)

    monkeypatch.setattr(scenario_run, "engine", lambda name: slow_start)
    screen, _ = _run(tmp_path, capsys, *flags(TINY), "--engine", "flower")
    lines = screen.splitlines()
    assert (
        lines[0]
        == "set-up: building the catalog and the shoppers, then starting the flower engine ..."
    )
    assert float(re.fullmatch(r"set-up: (\d+\.\d) s", lines[1]).group(1)) >= 0.4
    assert lines[2].startswith("round 1/2  loss ")


def test_a_log_gets_each_round_as_it_happens_uncut(tmp_path):
    """Without a terminal (a CI log) the rounds are plain lines, printed as they happen, not
    cut at 80 columns; the first arrives while the run is still going."""
    scenario = replace(TINY, rounds=12, baselines=True)
    environment = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    command = [sys.executable, "-m", "fedarena.cli", "run", *flags(scenario)]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment
    ) as process:
        lines = []
        while not (lines and lines[-1].startswith("round 1/12")):
            line = process.stdout.readline()
            assert line, process.stderr.read()  # "" is the end of the output
            lines.append(line.rstrip("\n"))
        assert process.poll() is None  # the round was shown before the run ended
        lines += process.stdout.read().splitlines()
        assert process.wait() == 0, process.stderr.read()
    rounds = [line for line in lines if line.startswith("round ")]
    assert [line.split()[1] for line in rounds] == [f"{k}/12" for k in range(1, 13)]
    assert all(
        re.fullmatch(r"round \d+/12  loss \d\.\d{4}  NDCG@10 \S+  \d+\.\d s", r) for r in rounds
    )
    assert not any("…" in line for line in lines)
    assert any(
        line.startswith("final metrics: the popularity, local and centralised") for line in lines
    )
    assert any(
        "bytes_per_client_per_round" in line and "bytes a client sends per round" in line
        for line in lines
    )


def test_quiet_prints_nothing(tmp_path, capsys):
    screen, _ = _run(tmp_path, capsys, *ATTACKED, "--attack", "sign_flip", "--quiet")
    assert screen == ""


def test_columns_still_sets_the_width_of_a_log(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    screen, _ = _run(tmp_path, capsys, *flags(TINY))
    tables = [line for line in screen.splitlines() if line[:1] in "┏┃┡│└"]
    assert tables and max(len(line) for line in tables) <= 100
