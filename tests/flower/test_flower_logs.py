"""Flower's own logs: errors only by default, INFO when asked, no colour codes off a terminal."""

from __future__ import annotations

import io
import logging

import pytest
from flwr.common.logger import FLOWER_LOGGER, ConsoleHandler

from fedarena.flower.logs import flower_logging, ray_init_args, wants_verbose


@pytest.fixture()
def stream():
    """Point Flower's console handler at a string buffer (not a terminal) for one test."""
    handler = next(h for h in FLOWER_LOGGER.handlers if isinstance(h, ConsoleHandler))
    buffer = io.StringIO()
    old = handler.setStream(buffer)
    yield buffer
    handler.setStream(old)


def test_quiet_by_default_keeps_errors_without_colour(stream):
    with flower_logging():
        FLOWER_LOGGER.info("round done")
        FLOWER_LOGGER.warning("deprecated")
        FLOWER_LOGGER.error("client failed")
    text = stream.getvalue()
    assert "round done" not in text and "deprecated" not in text
    assert "client failed" in text
    assert "\x1b[" not in text


def test_verbose_shows_info_without_colour_in_a_file(stream):
    with flower_logging(verbose=True):
        FLOWER_LOGGER.info("round done")
    assert "round done" in stream.getvalue()
    assert "\x1b[" not in stream.getvalue()


def test_the_previous_settings_come_back(stream):
    handler = next(h for h in FLOWER_LOGGER.handlers if isinstance(h, ConsoleHandler))
    before = (handler.level, handler.colored, FLOWER_LOGGER.propagate)
    with flower_logging():
        assert handler.level == logging.ERROR and not FLOWER_LOGGER.propagate
    assert (handler.level, handler.colored, FLOWER_LOGGER.propagate) == before


def test_a_closed_stream_is_not_a_terminal(stream):
    # Flower's handler can keep a stream closed since (a test's captured output, a closed
    # pipe); configuring the logs must not fail on it.
    stream.close()
    with flower_logging():
        handler = next(h for h in FLOWER_LOGGER.handlers if isinstance(h, ConsoleHandler))
        assert not handler.colored


def test_flowers_own_variable_asks_for_verbose(monkeypatch):
    monkeypatch.delenv("FLWR_LOG_LEVEL", raising=False)
    assert not wants_verbose(None)
    monkeypatch.setenv("FLWR_LOG_LEVEL", "INFO")
    assert wants_verbose(None)
    assert not wants_verbose(False)


def test_ray_is_quiet_unless_verbose():
    assert ray_init_args(False) == {"logging_level": logging.ERROR, "log_to_driver": False}
    assert ray_init_args(True)["log_to_driver"]
