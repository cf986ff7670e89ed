"""The container health probe: healthy when the role's port answers, one line when not."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from fedarena.monitoring.health import TARGET_ENV, main, probe


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/metrics" else 503)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def http_port():
    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_port
    server.shutdown()
    server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_http_target_is_healthy_on_2xx_only(http_port: int) -> None:
    assert probe(f"http://127.0.0.1:{http_port}/metrics") is None
    assert probe(f"http://127.0.0.1:{http_port}/other") == (
        f"http://127.0.0.1:{http_port}/other: HTTP 503"
    )


def test_tcp_target_is_healthy_when_something_listens(http_port: int) -> None:
    assert probe(f"tcp://127.0.0.1:{http_port}") is None
    port = free_port()
    reason = probe(f"tcp://127.0.0.1:{port}", timeout=1)
    assert reason is not None and reason.startswith(f"tcp://127.0.0.1:{port}: ")


@pytest.mark.parametrize(
    ("target", "message"),
    [("ftp://x:1", "must start with http://"), ("tcp://nohost", "needs a host and a port")],
)
def test_a_bad_target_is_named(target: str, message: str) -> None:
    assert message in (probe(target) or "")


def test_main_reads_the_environment_and_exits_1_with_a_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    monkeypatch.setenv(TARGET_ENV, f"tcp://127.0.0.1:{port}")
    assert main([]) == 1
    assert capsys.readouterr().err.startswith(f"unhealthy: tcp://127.0.0.1:{port}")
    monkeypatch.delenv(TARGET_ENV)
    assert main([]) == 0
