"""``fedarena export``: a matrix's cells as MLflow runs, one per cell (needs the mlflow extra)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console


def add_parser(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        "export",
        help="log a matrix's cells into an MLflow tracking store, one run per cell",
        description="Log every cell of a matrix output folder (or its results.sqlite, or a "
        "cells.json export) as one MLflow run: the spec as params, the final and per-round "
        "metrics, the status and reason as tags, the run document as result.json. A rerun "
        "logs only the cells whose results changed. Needs: pip install 'fedarena[mlflow]'.",
    )
    parser.add_argument(
        "results",
        type=Path,
        metavar="RESULTS",
        help="matrix output folder, results.sqlite or cells.json",
    )
    parser.add_argument(
        "--mlflow",
        required=True,
        metavar="URI",
        help="MLflow tracking URI: file:./mlruns, sqlite:///mlflow.db or http://host:5000",
    )
    parser.add_argument(
        "--experiment",
        default=None,
        metavar="NAME",
        help="MLflow experiment (default: the scenario file's name, as in results/<name>)",
    )
    return parser


def main(args: argparse.Namespace, console: Console) -> int:
    from fedarena.matrix.tracking import export_results

    summary = export_results(args.results, args.mlflow, args.experiment)
    missing = f"; {summary.nonfinite} missing or non-finite values not logged"
    console.print(
        f"{summary.cells} cells into MLflow experiment {summary.experiment!r} "
        f"(id {summary.experiment_id}) at {summary.uri}: {summary.logged} logged "
        f"({summary.replaced} replacing older runs), {summary.unchanged} already there"
        f"{missing if summary.nonfinite else ''}",
        markup=False,
        highlight=False,
    )
    return 0
