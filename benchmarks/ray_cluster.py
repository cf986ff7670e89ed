"""The smoke matrix on a two-node Ray cluster against the local backend (issue: within 1.3x).

    .venv/bin/python benchmarks/ray_cluster.py [--scenario scenarios/smoke.toml] [--repeats 1]

Each run is ``fedarena matrix`` in its own process, timed end to end (Python's start, the
imports, the matrix, the store): the local backend with 2 worker processes, then
``--backend ray --address`` on a cluster of a head node and a second node started for
the benchmark on 127.0.0.1 (``fedarena.matrix.local_cluster``, one CPU each, so both
backends use the machine's 2 cores). The cluster's start is timed apart, since a user
runs matrices on a cluster that is already up. Both runs must store the same cells with
the same final metrics, or the benchmark fails.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fedarena.matrix.local_cluster import LocalCluster
from fedarena.matrix.store import ResultStore

TARGET = 1.3


def timed_matrix(scenario: Path, out: Path, *extra: str) -> float:
    """Seconds of one ``fedarena matrix`` run into ``out``."""
    command = [sys.executable, "-m", "fedarena.cli", "matrix", "--scenario", str(scenario)]
    start = time.perf_counter()
    subprocess.run([*command, "--out", str(out), "--quiet", "--workers", "2", *extra], check=True)
    return time.perf_counter() - start


def stored(out: Path) -> dict[str, tuple[str, dict]]:
    """Each stored cell's status and final metrics, by key."""
    with ResultStore.in_folder(out) as store:
        return {r.key: (r.status, r.result["final"]) for r in store.records()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", type=Path, default=Path("scenarios/smoke.toml"))
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    local, ray = [], []
    with tempfile.TemporaryDirectory() as folder:
        for repeat in range(args.repeats):
            local.append(timed_matrix(args.scenario, Path(folder) / f"local{repeat}"))
        start = time.perf_counter()
        with LocalCluster(nodes=2, cpus=1) as cluster:
            started = time.perf_counter() - start
            for repeat in range(args.repeats):
                out = Path(folder) / f"ray{repeat}"
                ray.append(
                    timed_matrix(
                        args.scenario, out, "--backend", "ray", "--address", cluster.address
                    )
                )
        cells = stored(Path(folder) / "local0")
        for repeat in range(args.repeats):
            if stored(Path(folder) / f"ray{repeat}") != cells:
                raise SystemExit("the Ray backend stored other cells or metrics than the local one")
    local_s, ray_s = statistics.median(local), statistics.median(ray)
    ratio = ray_s / local_s
    print(f"{args.scenario}: {len(cells)} cells, 2 cores, medians of {args.repeats}")
    print(f"{'local backend, 2 workers':<40}{local_s:>8.1f} s")
    print(f"{'Ray, head + 1 node, 1 CPU each':<40}{ray_s:>8.1f} s")
    print(f"{'  (the cluster start, not counted)':<40}{started:>8.1f} s")
    verdict = "met" if ratio <= TARGET else "missed"
    print(f"{'Ray / local':<40}{ratio:>8.2f} x   target <= {TARGET} x: {verdict}")


if __name__ == "__main__":
    main()
