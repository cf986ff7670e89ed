"""fedarena's SuperLink wrapper: on the SuperNodes' port only the Fleet API answers.

The real processes (a stranger's self-registration refused, a registered node online, a
run end to end) are in ``test_flower_deployment.py``; these are the fast checks.
"""

from __future__ import annotations

import asyncio
import sys

import pytest

from fedarena.flower import superlink
from fedarena.flower.superlink import FleetOnlyOn, node_may_call

NODE_PORT, OPERATOR_PORT = 9092, 9093


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/v1/fleet/activate-node", True),
        ("/v1/fleet/pull-messages", True),
        ("/health", True),
        ("/v1/control/register-node", False),
        ("/v1/control/start-run", False),
        ("/v1/runtime/get-nodes", False),
        ("/v1/fleet/../control/register-node", False),
        ("/docs", False),
        ("/v1/fleetish", False),
    ],
)
def test_only_the_fleet_api_and_health_are_for_nodes(path, allowed):
    assert node_may_call(path) is allowed


def _call(port: int, path: str) -> list[dict]:
    reached: list[str] = []

    async def inner(scope, receive, send):
        reached.append(scope["path"])

    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "http.request", "body": b""}

    scope = {"type": "http", "path": path, "server": ("127.0.0.1", port)}
    asyncio.run(FleetOnlyOn(inner, NODE_PORT)(scope, receive, send))
    return reached or sent


def test_the_control_api_is_refused_on_the_node_port_and_served_on_the_operators():
    refused = _call(NODE_PORT, "/v1/control/register-node")
    assert refused[0]["status"] == 403
    assert _call(OPERATOR_PORT, "/v1/control/register-node") == ["/v1/control/register-node"]
    assert _call(NODE_PORT, "/v1/fleet/activate-node") == ["/v1/fleet/activate-node"]


def test_the_same_port_for_nodes_and_operator_is_a_one_line_error(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    with pytest.raises(SystemExit) as exit_:
        superlink.main(["--insecure", "--port", "9093", "--fleet-port", "9093"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("fedarena: error: --fleet-port 9093 is also --port")
