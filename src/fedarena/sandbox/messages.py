"""What a child sends its parent, read without trusting it.

A child runs code that may be hostile, so the parent never unpickles its
messages with ``pickle.loads`` (which can call any function): it rebuilds only
plain data (numbers, strings, lists, dicts, tuples, sets) and the classes
registered with ``allow_message_type`` (``Outcome``, ``Interim`` and ``Ready`` here, a
check's ``Verdict`` by the conformance checks), and refuses messages over
``MAX_MESSAGE_BYTES``. Anything else is an ``UnsafeMessage``, which the parent
reports as the child's failure.
"""

from __future__ import annotations

import io
import pickle
from multiprocessing.connection import Connection
from typing import Any

from fedarena.sandbox.limits import Interim, Outcome, Ready

MAX_MESSAGE_BYTES = 512 * 2**20
_ALLOWED: set[tuple[str, str]] = set()


class UnsafeMessage(Exception):
    """A child sent something other than plain data and the allowed classes."""


def allow_message_type(cls: type) -> None:
    """Let children send instances of ``cls`` (a plain dataclass: rebuilding it runs no code)."""
    _ALLOWED.add((cls.__module__, cls.__qualname__))


allow_message_type(Outcome)
allow_message_type(Interim)
allow_message_type(Ready)


class _PlainUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise UnsafeMessage(f"a child sent an object of type {module}.{name}, which is refused")
        return super().find_class(module, name)


def loads(data: bytes) -> Any:
    """Unpickle a child's message, refusing every global outside the allowed classes."""
    try:
        return _PlainUnpickler(io.BytesIO(data)).load()
    except UnsafeMessage:
        raise
    except Exception as err:  # a malformed pickle is the child's fault, never the parent's crash
        raise UnsafeMessage(f"a child sent a malformed message ({type(err).__name__})") from None


class Channel:
    """The parent's end of a child's message pipe: ``poll``, then ``recv`` a checked message
    (``EOFError`` once the child's end is closed and drained)."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def fileno(self) -> int:
        return self.connection.fileno()

    def poll(self) -> bool:
        return self.connection.poll()

    def recv(self) -> Any:
        try:
            data = self.connection.recv_bytes(MAX_MESSAGE_BYTES)
        except OSError as err:  # over the size limit, or the pipe broke mid-message
            raise UnsafeMessage(f"a child's message could not be read ({err})") from None
        return loads(data)

    def close(self) -> None:
        self.connection.close()
