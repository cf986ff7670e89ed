"""Rewrite the module table of docs/architecture.md from the modules' own docstrings.

    python scripts/architecture.py            # print the table
    python scripts/architecture.py --docs docs/architecture.md

The table sits between ``<!-- modules:start -->`` and ``<!-- modules:end -->``.
"""

from __future__ import annotations

import argparse
import ast
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "fedarena"
START, END = "<!-- modules:start -->", "<!-- modules:end -->"


def first_line(path: Path) -> str:
    """The first sentence-line of a module's docstring, joined if it wraps."""
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    paragraph = doc.split("\n\n")[0]
    return " ".join(line.strip() for line in paragraph.splitlines())


def table() -> str:
    rows = ["| module | what it is |", "| --- | --- |"]
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "__main__.py":
            continue
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        name = name.removesuffix(".__init__")
        rows.append(f"| `{name}` | {first_line(path).replace('|', '/')} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=Path, help="rewrite the table in this file")
    args = parser.parse_args()
    text = table()
    if args.docs is None:
        print(text)
        return
    doc = args.docs.read_text()
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.DOTALL)
    if not pattern.search(doc):
        raise SystemExit(f"{args.docs}: no {START} ... {END} block")
    args.docs.write_text(pattern.sub(lambda _: f"{START}\n{text}\n{END}", doc))


if __name__ == "__main__":
    main()
