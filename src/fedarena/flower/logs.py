"""Flower's and Ray's own logging: quiet by default, verbose on request, never colour in files.

Flower logs every round at INFO through the ``flwr`` logger, whose console
handler writes ANSI colour codes whatever its stream is. Inside
``flower_logging`` that handler shows only errors (or INFO and above when
verbose), and colours only a terminal. Setting Flower's own ``FLWR_LOG_LEVEL``
environment variable also asks for verbose logs.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flwr.common.logger import FLOWER_LOGGER, ConsoleHandler


def wants_verbose(verbose: bool | None) -> bool:
    """``verbose`` if given, else whether the user set Flower's ``FLWR_LOG_LEVEL``."""
    return bool(os.getenv("FLWR_LOG_LEVEL")) if verbose is None else verbose


def ray_init_args(verbose: bool) -> dict[str, Any]:
    """Ray's own log level and whether its workers' output reaches this process."""
    return {
        "logging_level": logging.INFO if verbose else logging.ERROR,
        "log_to_driver": verbose,
    }


def configure_flower_logging(verbose: bool = False) -> None:
    """Flower's console logs at ERROR (INFO if verbose), coloured only on a terminal.

    For a process Flower starts for fedarena (a ServerApp in a deployment);
    elsewhere use ``flower_logging``, which restores the previous settings.
    """
    # Flower's handler is its output; a root handler (Opacus installs one on import) would
    # print every record a second time.
    FLOWER_LOGGER.propagate = False
    for handler in _console_handlers():
        handler.setLevel(logging.INFO if verbose else logging.ERROR)
        handler.colored = _is_terminal(handler)


@contextmanager
def flower_logging(verbose: bool = False) -> Iterator[None]:
    """``configure_flower_logging`` for the duration of the block, then the previous settings."""
    saved = [(h, h.level, h.colored) for h in _console_handlers()]
    propagate = FLOWER_LOGGER.propagate
    configure_flower_logging(verbose)
    try:
        with warnings.catch_warnings():
            if not verbose:
                # Ray and Flower announce future API changes that a benchmark user cannot act on.
                warnings.filterwarnings("ignore", category=FutureWarning, module=r"ray\.")
                warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"flwr\.")
            yield
    finally:
        FLOWER_LOGGER.propagate = propagate
        for handler, level, colored in saved:
            handler.setLevel(level)
            handler.colored = colored


def _console_handlers() -> list[ConsoleHandler]:
    return [h for h in FLOWER_LOGGER.handlers if isinstance(h, ConsoleHandler)]


def _is_terminal(handler: logging.StreamHandler) -> bool:
    try:
        return bool(handler.stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a stream already closed
        return False
