"""Why a board has no utility retained: one line per panel (or for the whole board) that
``fedarena leaderboard`` prints and every rendering shows.

Utility retained needs a reference cell (attack none, defense fedavg) that ran and has a
finite NDCG@10 above its popularity baseline's; without one every utility and every score
built on it is n/a, which a reader should be told rather than left to infer from a page of
n/a.
"""

from __future__ import annotations

from collections.abc import Sequence

from fedarena.leaderboard.panels import Panel
from fedarena.leaderboard.scoring import REFERENCE, UTILITY, CellScore, popularity_of

REFERENCE_TEXT = f"attack {REFERENCE['attack']}, defense {REFERENCE['defense']}"
STATUS_TEXT = {"failed": "failed", "skipped": "were skipped"}


def _reason(scores: Sequence[CellScore]) -> str:
    """What the reference cells among ``scores`` lack."""
    references = [
        s for s in scores if all(s.spec[axis] == value for axis, value in REFERENCE.items())
    ]
    done = [s for s in references if s.status == "done"]
    if not references:
        return f"no reference cell ({REFERENCE_TEXT}) is among the {len(scores)} cells"
    if not done:
        what = " or ".join(sorted({STATUS_TEXT.get(s.status, s.status) for s in references}))
        return f"the {len(references)} reference cell(s) ({REFERENCE_TEXT}) {what}"
    measured = [s for s in done if s.utility is not None]
    if not measured:
        return f"no reference cell ({REFERENCE_TEXT}) has a finite {UTILITY.upper()}"
    if all(popularity_of(s.record) is None for s in measured):
        return f"no reference cell ({REFERENCE_TEXT}) has a popularity baseline"
    return (
        f"the {UTILITY.upper()} of no reference cell ({REFERENCE_TEXT}) is above its "
        "popularity baseline's"
    )


def utility_notice(scores: Sequence[CellScore]) -> str | None:
    """One line saying why no cell of ``scores`` has a utility retained; ``None`` if one has."""
    if any(s.retained is not None for s in scores):
        return None
    return (
        f"no cell has a defined utility retained: {_reason(scores)}; utility retained and the "
        "scores built on it are n/a"
    )


def board_notices(panels: Sequence[Panel]) -> list[str]:
    """One notice for a board none of whose panels has a utility retained, else one per panel
    without (named by its label)."""
    lacking = [p for p in panels if utility_notice(p.reported) is not None]
    if not lacking:
        return []
    if len(lacking) == len(panels):
        notice = utility_notice([s for p in panels for s in p.reported])
        return [] if notice is None else [notice]
    return [f"panel {p.label}: {utility_notice(p.reported)}" for p in lacking]
