"""Atomic file writes: a reader sees the old file or the whole new one, never half of it.

Every file fedarena writes for a user (a run's ``--out``, the cells export,
the leaderboard, entries, the CI baseline) goes through ``write_text_atomic``,
so all of them get the same guarantee and the same permissions: those of any
new file, 0666 less the umask (0644 under the usual umask 022), not
``mkstemp``'s 0600, which would hide a published file from other users.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

NEW_FILE_MODE = 0o666  # the kernel takes the umask off, as for any file a program creates


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` so that ``path`` holds either the old or the whole new content.

    An ``OSError`` (a full disk, a read-only folder) names ``path`` as its ``filename``
    when the system gave none (a failed ``write`` names no file), so that its one-line
    message can say which file could not be written.
    """
    write_bytes_atomic(path, text.encode())


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """``write_text_atomic`` for bytes."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = _new_temporary(path)
    except OSError as err:
        err.filename = err.filename or str(path)
        raise
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError):
            err.filename = err.filename or str(path)
        raise


def _new_temporary(path: Path) -> tuple[int, Path]:
    """A new hidden file beside ``path``, open for writing, with the mode of any new file."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    while True:
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
        try:
            return os.open(tmp, flags, NEW_FILE_MODE), tmp
        except FileExistsError:
            continue


def json_text(document: Any, indent: int = 2, allow_nan: bool = False) -> str:
    """``document`` as JSON text with a final newline; NaN and Inf are refused unless
    ``allow_nan`` (a run document keeps a NaN loss as JSON's non-standard ``NaN``)."""
    return json.dumps(document, indent=indent, allow_nan=allow_nan) + "\n"


def write_json_atomic(path: Path, document: Any, indent: int = 2, allow_nan: bool = False) -> None:
    """``write_text_atomic`` of ``json_text(document, indent, allow_nan)``."""
    write_text_atomic(path, json_text(document, indent, allow_nan))
