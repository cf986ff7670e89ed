"""Paths of deploy/ and a small PromQL reader for the deployment tests."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"

_STRING = re.compile(r'"(?:\\.|[^"\\])*"')
_RANGE = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_NAME = re.compile(r"(?<![\w.])([A-Za-z_:][A-Za-z0-9_:]*)\s*(\{[^}]*\})?\s*(\()?")
_MATCHER = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)")
_KEYWORDS = {"and", "or", "unless", "bool", "offset"}


def selectors(expr: str) -> list[tuple[str, set[str]]]:
    """The metric names a PromQL expression selects, each with the label names it matches on.

    Function names (a name followed by ``(``), keywords, grouping clauses, strings and range
    durations are not metric names.

    >>> [(name, sorted(labels)) for name, labels in selectors(
    ...     'sum by (le) (rate(m_bucket{a="x", b=~"$v"}[5m])) + n')]
    [('m_bucket', ['a', 'b']), ('n', [])]
    """
    matchers = [m.group(0) for m in re.finditer(r"\{[^}]*\}", expr)]
    blank = _STRING.sub('""', expr)
    blank = _RANGE.sub("", blank)
    blank = _GROUPING.sub("", blank)
    found = []
    for match in _NAME.finditer(blank):
        name, braces, call = match.groups()
        if call or name in _KEYWORDS:
            continue
        labels: set[str] = set()
        if braces is not None:
            original = matchers.pop(0) if matchers else braces
            labels = set(_MATCHER.findall(_STRING.sub('""', original)))
        found.append((name, labels))
    return found


def missing_from(original: object, decoded: object, path: str = "") -> list[str]:
    """Paths of ``original`` whose value ``decoded`` lacks or changed (extra keys are fine)."""
    if isinstance(original, dict):
        if not isinstance(decoded, dict):
            return [path or "/"]
        return [
            p
            for key, value in original.items()
            for p in (
                missing_from(value, decoded[key], f"{path}/{key}")
                if key in decoded
                else [f"{path}/{key}"]
            )
        ]
    if isinstance(original, list):
        if not isinstance(decoded, list) or len(decoded) != len(original):
            return [path]
        return [
            p
            for i, (a, b) in enumerate(zip(original, decoded, strict=True))
            for p in missing_from(a, b, f"{path}[{i}]")
        ]
    return [] if original == decoded else [path]
