"""Flower's SuperLink with its Control API closed to the SuperNodes' network.

Flower 1.42's ``flower-superlink`` serves the Fleet API (what SuperNodes
call), the Control API (what the ``flwr`` CLI calls: ``flwr run``, ``flwr
supernode register``) and the Runtime API (its own app processes) on one
port, and the open-source Control API does not authenticate its callers. So
anyone who can reach the SuperNodes' port, with nothing but the public CA
certificate, can register a key of their own and join the federation
(``--enable-supernode-auth`` notwithstanding), or start a run.

``python -m fedarena.flower.superlink`` runs the same SuperLink (every
``flower-superlink`` option is accepted and means what it means there) on two
listeners:

- Flower's ``--host``/``--port`` (keep the host loopback, ``127.0.0.1``): every
  API, for the operator's ``flwr`` CLI on the SuperLink's machine (or through
  an SSH tunnel or ``kubectl port-forward``) and for the SuperLink's own app
  processes;
- ``--fleet-host``/``--fleet-port`` (default ``0.0.0.0:9092``): the port
  SuperNodes dial. It answers the Fleet API and ``/health`` only; anything
  else, the Control API included, gets HTTP 403.
"""

from __future__ import annotations

import argparse
import importlib
import socket
import sys
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

from fedarena.errors import FedarenaError

FLEET_PORT = 9092
NODE_PATHS = ("/v1/fleet/",)
OPEN_PATHS = frozenset({"/health"})

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def node_may_call(path: str) -> bool:
    """Whether a request on the SuperNodes' listener may reach ``path``: the Fleet API and
    the health check, and no path that climbs out of them (``..``)."""
    if ".." in path.split("/"):
        return False
    return path in OPEN_PATHS or path.startswith(NODE_PATHS)


class FleetOnlyOn:
    """An ASGI app that, on connections accepted by local port ``node_port``, lets only
    ``node_may_call`` paths through to ``app`` and refuses the rest with 403."""

    def __init__(self, app: ASGIApp, node_port: int) -> None:
        self.app = app
        self.node_port = node_port

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        server = scope.get("server") or (None, None)
        on_node_port = scope["type"] in ("http", "websocket") and server[1] == self.node_port
        if not on_node_port or node_may_call(scope["path"]):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        body = b"Forbidden: the SuperNodes' port serves the Fleet API only\n"
        await send(
            {
                "type": "http.response.start",
                "status": 403,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _listener(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        sock = socket.create_server((host.strip("[]"), port), family=family)
    except OSError as err:
        raise FedarenaError(f"cannot listen on {host}:{port}: {err.strerror}") from err
    sock.set_inheritable(True)
    return sock


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m fedarena.flower.superlink",
        description="Flower's SuperLink, with the SuperNodes on a port of their own that "
        "serves the Fleet API only. Every other option is flower-superlink's "
        "(flower-superlink --help); its --host and --port are the operator's listener "
        "(every API; keep it on 127.0.0.1).",
    )
    parser.add_argument(
        "--fleet-host", default="0.0.0.0", help="address SuperNodes reach (default 0.0.0.0)"
    )
    parser.add_argument(
        "--fleet-port",
        type=int,
        default=FLEET_PORT,
        help=f"port SuperNodes dial, Fleet API only (default {FLEET_PORT})",
    )
    return parser


def serve(argv: Sequence[str]) -> None:
    """Build Flower's SuperLink from ``argv`` (flower-superlink's options plus ours) and
    serve it on the operator's and the SuperNodes' listeners until stopped."""
    import uvicorn
    from flwr.supercore.http_logging import get_uvicorn_log_config
    from flwr.supercore.logger import console_handler
    from flwr.superlink.main import create_app

    # The module, not the function of the same name that flwr.superlink.cli exports.
    flower_superlink = importlib.import_module("flwr.superlink.cli.flower_superlink")

    ours, theirs = _parser().parse_known_args(argv)
    if not 0 < ours.fleet_port <= 65535:
        raise FedarenaError(f"--fleet-port must be a port in 1..65535, got {ours.fleet_port}")
    # Flower reads its options, and which were given, from sys.argv.
    sys.argv = ["flower-superlink", *theirs]
    config = flower_superlink._parse_superlink_lifespan_config()
    if config.port == ours.fleet_port:
        raise FedarenaError(
            f"--fleet-port {ours.fleet_port} is also --port: the SuperNodes' port must differ "
            "from the operator's"
        )
    app = create_app(config, flower_superlink.SuperLinkLifespan)
    server = uvicorn.Server(
        uvicorn.Config(
            app=FleetOnlyOn(app, ours.fleet_port),
            host=config.host,
            port=config.port,
            access_log=True,
            log_config=get_uvicorn_log_config(console_handler.level),
            ssl_keyfile=config.ssl_keyfile,
            ssl_certfile=config.ssl_certfile,
            workers=1,
        )
    )
    listeners = [_listener(config.host, config.port), _listener(ours.fleet_host, ours.fleet_port)]
    server.run(sockets=listeners)


def main(argv: Sequence[str] | None = None) -> None:
    """Command-line entry point; a ``FedarenaError`` is one line and exit status 2."""
    try:
        serve(sys.argv[1:] if argv is None else argv)
    except FedarenaError as err:
        print(f"fedarena: error: {err}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
