"""The HTTP endpoint Prometheus scrapes: ``GET /metrics`` on a local port, in a daemon thread.

It binds to 127.0.0.1 unless told otherwise (``host``, or ``FEDARENA_METRICS_HOST``, which the
container image sets to 0.0.0.0 so that a Prometheus in another container can reach it). A
port that cannot be bound is bad input: one line naming it, raised as ``FedarenaError`` before
the run starts, so the CLI exits 2 instead of running unwatched.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from threading import Thread
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server

from fedarena.errors import FedarenaError

#: Where the exporter listens when no host is given and FEDARENA_METRICS_HOST is unset.
DEFAULT_HOST = "127.0.0.1"
HOST_ENV = "FEDARENA_METRICS_HOST"


@dataclass
class Exporter:
    """A running exporter; ``close()`` stops it (it also dies with the process)."""

    host: str
    port: int
    server: WSGIServer
    thread: Thread

    @property
    def url(self) -> str:
        """The scrape URL, e.g. ``http://127.0.0.1:9100/metrics``."""
        return f"http://{self.host}:{self.port}/metrics"

    def close(self) -> None:
        """Stop serving and release the port."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def start_exporter(
    port: int,
    registry: CollectorRegistry,
    host: str | None = None,
    option: str = "--metrics-port",
) -> Exporter:
    """Serve ``registry`` on ``host:port`` (port 0: any free port; see ``Exporter.port``).

    ``option`` is how the user gave the port (a CLI flag or a run-config key), for the error.

    >>> from prometheus_client import CollectorRegistry
    >>> exporter = start_exporter(0, CollectorRegistry())
    >>> exporter.port > 0
    True
    >>> exporter.close()
    """
    host = host or os.environ.get(HOST_ENV) or DEFAULT_HOST
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise FedarenaError(f"{option} {port!r}: must be a TCP port number in 0-65535")
    try:
        server, thread = start_http_server(port, addr=host, registry=registry)
    except OSError as error:
        reason = "port in use" if error.errno == errno.EADDRINUSE else "cannot listen"
        detail = error.strerror or str(error)
        raise FedarenaError(f"{option} {port}: {reason} ({host}:{port}: {detail})") from None
    return Exporter(host=host, port=server.server_port, server=server, thread=thread)
