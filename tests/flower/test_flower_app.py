"""The Flower App in flower-app/: valid for `flwr run`, in step with Scenario, using our apps."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from flwr.clientapp import ClientApp
from flwr.common.config import validate_config
from flwr.serverapp import ServerApp

from fedarena.errors import FedarenaError, SpecError
from fedarena.flower import client_app, server_app
from fedarena.flower.server_app import AppConfig
from fedarena.scenario.spec import Scenario

APP = Path(__file__).parents[2] / "flower-app"


@pytest.fixture(scope="module")
def config() -> dict:
    return tomllib.loads((APP / "pyproject.toml").read_text())


def test_flower_accepts_the_app(config):
    valid, errors, warnings = validate_config(config, check_module=True, project_dir=APP)
    assert valid, errors
    assert warnings == []


def test_components_are_the_fedarena_apps(config):
    components = config["tool"]["flwr"]["app"]["components"]
    assert components["serverapp"] == "fedarena.flower.server_app:app"
    assert components["clientapp"] == "fedarena.flower.client_app:app"
    assert isinstance(server_app.app, ServerApp)
    assert isinstance(client_app.app, ClientApp)


def test_run_config_lists_every_scenario_field_with_its_default(config):
    run_config = config["tool"]["flwr"]["app"]["config"]
    defaults = Scenario().to_dict()
    assert {
        k: v
        for k, v in run_config.items()
        if k not in ("out", "verbose", "metrics_port", "round_timeout")
    } == defaults
    assert AppConfig.from_run_config(run_config) == AppConfig(Scenario(), "", False)


def test_run_config_overrides_reach_the_scenario():
    app_config = AppConfig.from_run_config(
        {"rounds": 2, "shoppers": 60, "out": "/tmp/r.json", "verbose": True}
    )
    assert app_config.scenario == Scenario(rounds=2, shoppers=60)
    assert app_config.out == "/tmp/r.json" and app_config.verbose


def test_an_unknown_run_config_key_names_itself():
    with pytest.raises(SpecError, match="run config: unknown key 'round'"):
        AppConfig.from_run_config({"round": 2})


def test_the_app_folder_holds_only_its_configuration():
    # `flwr run` bundles the whole folder; the code comes from the installed package.
    assert sorted(p.name for p in APP.iterdir()) == ["pyproject.toml"]


def test_metrics_port_is_a_run_config_key_checked_as_a_port():
    assert AppConfig.from_run_config({"metrics_port": 9100}).metrics_port == 9100
    for bad in (-1, 70000, "x", True):
        with pytest.raises(FedarenaError, match="run config: metrics_port must be a port"):
            AppConfig.from_run_config({"metrics_port": bad})


def test_flwr_build_makes_a_fab_of_the_configuration_alone(tmp_path):
    # docs/flower.md: the FAB holds pyproject.toml only; a SuperNode needs fedarena installed.
    flwr = Path(sys.executable).parent / "flwr"
    done = subprocess.run(
        [str(flwr), "build", "--app", str(APP)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "FLWR_HOME": str(tmp_path / "home")},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (fab,) = tmp_path.glob("*.fab")
    names = zipfile.ZipFile(fab).namelist()
    assert [n for n in names if not n.startswith(".info/")] == ["pyproject.toml"]
    docs = (APP.parent / "docs" / "flower.md").read_text()
    assert "holds only `pyproject.toml`" in docs and "pip install fedarena==<version>" in docs
