"""User-facing errors: one line that names the field, file or line at fault."""

from __future__ import annotations

from os import PathLike

# A path longer than this is shown by its two ends: a 100,000-character name must not flood the
# one line an error is.
SHOWN_PATH_CHARS = 120


class FedarenaError(Exception):
    """Bad input from a user (a flag, a spec, a file). The CLI prints it as one line, exit 2."""


class DataError(FedarenaError):
    """A catalog file or folder that cannot be read as the documented format."""


class SpecError(FedarenaError):
    """A scenario, attack, defense or strategy specification that is invalid."""


def shown_path(path: str | PathLike[str]) -> str:
    """``path`` as an error shows it: whole, or its two ends when it is very long.

    >>> shown_path("a" * 200)[:8], len(shown_path("a" * 200)) < 200
    ('aaaaaaaa', True)
    """
    text = str(path)
    if len(text) <= SHOWN_PATH_CHARS:
        return text
    half = SHOWN_PATH_CHARS // 2
    return f"{text[:half]}...{text[-half // 2 :]} ({len(text):,} characters)"


def os_error(
    path: str | PathLike[str],
    err: OSError,
    doing: str = "cannot read",
    kind: type[FedarenaError] = FedarenaError,
) -> FedarenaError:
    """The one-line error of an ``OSError`` on a user's path: the path, what failed and the
    system's reason (``No space left on device``), e.g. ``out/cells.json: cannot write (...)``."""
    return kind(f"{shown_path(path)}: {doing} ({err.strerror or err})")


class RunFailed(FedarenaError):
    """A run whose numbers would be undefined (its global model holds NaN or Inf): the CLI
    prints it as one line, and a matrix records the cell as failed, never as done."""
