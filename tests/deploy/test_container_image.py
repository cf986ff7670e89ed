"""Build the image and run every role's command in it, where a container can be started.

No container can be started on the machines fedarena is developed on (no Docker daemon;
podman's crun fails with ``setrlimit RLIMIT_NOFILE: Operation not permitted``), so there this
test skips with the engine's own error; the offline checks are in test_compose_and_dockerfile.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid

import pytest
from deploy_helpers import DEPLOY, ROOT

BUILD_TIMEOUT_S = 1800


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def container_engine() -> str:
    """The docker or podman that can start a container here, else a skip saying why not."""
    reasons = []
    for name in ("docker", "podman"):
        path = shutil.which(name)
        if path is None:
            continue
        # podman can run the host's root as a container: no image to pull for the probe.
        probe = (
            [path, "info"] if name == "docker" else [path, "run", "--rm", "--rootfs", "/", "true"]
        )
        try:
            done = subprocess.run(probe, capture_output=True, text=True, timeout=30)
        except subprocess.TimeoutExpired:
            reasons.append(f"{name}: `{' '.join(probe[1:])}` did not answer in 30 s")
            continue
        if done.returncode == 0:
            return path
        reasons.append(f"{name} cannot start a container here ({_last_line(done.stderr)})")
    if not reasons:
        pytest.skip("neither docker nor podman is installed: the image cannot be built here")
    pytest.skip("; ".join(reasons))


@pytest.fixture(scope="module")
def image() -> str:
    engine = container_engine()
    tag = f"fedarena-test:{uuid.uuid4().hex[:8]}"
    build = [engine, "build", "-f", str(DEPLOY / "docker" / "Dockerfile"), "-t", tag, str(ROOT)]
    subprocess.run(build, check=True, timeout=BUILD_TIMEOUT_S)
    yield engine, tag
    subprocess.run([engine, "rmi", "-f", tag], capture_output=True, timeout=120)


def run_in(image: tuple[str, str], *command: str, timeout: int = 300) -> str:
    engine, tag = image
    done = subprocess.run(
        [engine, "run", "--rm", tag, *command], capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.slow
def test_image_runs_as_non_root(image: tuple[str, str]) -> None:
    assert run_in(image, "id", "-u").strip() == "10001"


@pytest.mark.slow
def test_image_runs_a_scenario_and_a_matrix(image: tuple[str, str]) -> None:
    small = ["--rounds", "2", "--shoppers", "40", "--clients-per-round", "8", "--items", "200"]
    assert "ndcg@10" in run_in(image, "fedarena", "run", *small, "--no-baselines")
    out = run_in(
        image,
        "fedarena",
        "matrix",
        "--scenario",
        "scenarios/smoke.toml",
        "--workers",
        "2",
        timeout=900,
    )
    assert " done, 0 failed," in out


@pytest.mark.slow
def test_image_has_the_flower_roles_and_the_health_probe(image: tuple[str, str]) -> None:
    for command in ("flower-superlink", "flower-supernode", "flwr-serverapp", "flwr-clientapp"):
        run_in(image, command, "--help")
    run_in(image, "python", "-c", "import fedarena.flower.server_app, fedarena.monitoring.metrics")
    run_in(image, "python", "-m", "fedarena.monitoring.health")


@pytest.mark.slow
def test_image_healthcheck_is_declared(image: tuple[str, str]) -> None:
    engine, tag = image
    done = subprocess.run(
        [engine, "image", "inspect", "--format", "{{json .Config.Healthcheck}}", tag],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "fedarena.monitoring.health" in done.stdout
