"""A container health probe: ``python -m fedarena.monitoring.health [TARGET]``.

One image runs several roles (``fedarena matrix``, ``flower-superlink``, ``flower-supernode``),
so its HEALTHCHECK probes what the role serves, named by ``TARGET`` or by the environment
variable ``FEDARENA_HEALTHCHECK``: ``http://HOST:PORT/PATH`` (a 2xx answer, e.g. the metrics
exporter) or ``tcp://HOST:PORT`` (a listening port, e.g. the SuperLink). No target: the probe
only checks that fedarena imports. Exit 0 when healthy, 1 with one line on stderr when not.
"""

from __future__ import annotations

import os
import socket
import sys
import urllib.error
import urllib.request
from urllib.parse import urlsplit

TARGET_ENV = "FEDARENA_HEALTHCHECK"
TIMEOUT_S = 3.0


def probe(target: str, timeout: float = TIMEOUT_S) -> str | None:
    """None when ``target`` is healthy, else the reason in one line."""
    parts = urlsplit(target)
    if parts.scheme in ("http", "https"):
        try:
            with urllib.request.urlopen(target, timeout=timeout) as response:
                status = response.status
        except urllib.error.HTTPError as error:
            return f"{target}: HTTP {error.code}"
        except (OSError, ValueError) as error:
            return f"{target}: {getattr(error, 'reason', error)}"
        return None if 200 <= status < 300 else f"{target}: HTTP {status}"
    if parts.scheme == "tcp":
        if not parts.hostname or parts.port is None:
            return f"{target}: a tcp target needs a host and a port, e.g. tcp://127.0.0.1:9093"
        try:
            with socket.create_connection((parts.hostname, parts.port), timeout=timeout):
                return None
        except OSError as error:
            return f"{target}: {error.strerror or error}"
    return f"{target}: the target must start with http://, https:// or tcp://"


def main(argv: list[str] | None = None) -> int:
    """Probe the target from ``argv`` or the environment; print the reason when unhealthy."""
    args = sys.argv[1:] if argv is None else argv
    target = args[0] if args else os.environ.get(TARGET_ENV, "")
    if not target:
        import fedarena  # noqa: F401  (the image's installation is intact)

        return 0
    reason = probe(target)
    if reason is not None:
        print(f"unhealthy: {reason}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
