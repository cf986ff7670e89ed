"""The GitHub Actions example and docs/ci.md cannot rot: every ``fedarena`` command in them
parses with the real command line, every ``make`` target they use exists in the Makefile,
and every file they name exists."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from fedarena.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / "docs" / "github-actions-example.yml"
CI_DOC = ROOT / "docs" / "ci.md"


def workflow_commands() -> list[str]:
    document = yaml.safe_load(WORKFLOW.read_text())
    return [
        line
        for job in document["jobs"].values()
        for step in job["steps"]
        if "run" in step
        for line in step["run"].splitlines()
        if line.strip()
    ]


def doc_commands() -> list[str]:
    blocks = re.findall(r"^```bash\n(.*?)^```", CI_DOC.read_text(), re.MULTILINE | re.DOTALL)
    return [line.replace("\\\n", " ") for block in blocks for line in block.split("\n\n")]


def fedarena_arguments(command: str) -> list[str] | None:
    words = shlex.split(command.replace("\\\n", " "))
    for i, word in enumerate(words):
        if word.endswith("fedarena"):
            return words[i + 1 :]
    return None


def make_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    return set(re.findall(r"^([A-Za-z][\w.-]*):", text, re.MULTILINE))


def test_every_workflow_job_runs_something():
    document = yaml.safe_load(WORKFLOW.read_text())
    assert set(document["jobs"]) == {"test", "gate", "submission"}
    assert all(any("run" in s for s in job["steps"]) for job in document["jobs"].values())


@pytest.mark.parametrize("command", workflow_commands() + doc_commands())
def test_commands_parse_and_name_existing_targets(command):
    arguments = fedarena_arguments(command)
    if arguments is not None:
        build_parser().parse_args(arguments)  # SystemExit on an unknown command or flag
    words = shlex.split(command)
    if words and words[0] == "make":
        targets = [w for w in words[1:] if "=" not in w]
        assert set(targets) <= make_targets(), f"{command}: no such make target"
    for word in words:
        if word.startswith(("leaderboard/", "scenarios/", "benchmarks/")) and "*" not in word:
            assert (ROOT / word).exists(), f"{command}: {word} does not exist"


def test_a_fresh_checkout_over_a_cached_venv_does_not_reinstall(tmp_path):
    """The stamp is named by content: newer files with the same content (what a checkout over
    a restored Actions cache gives) keep it; an edited pyproject.toml builds the venv again."""
    for name in ("Makefile", "pyproject.toml"):
        (tmp_path / name).write_text((ROOT / name).read_text())
    stamp = re.search(r"touch (\S+)", _dry_run(tmp_path)).group(1)
    (tmp_path / stamp).parent.mkdir()
    (tmp_path / stamp).touch()
    os.utime(tmp_path / "pyproject.toml")  # newer than the stamp, as after a checkout
    assert "pip install" not in _dry_run(tmp_path)
    with (tmp_path / "pyproject.toml").open("a") as file:
        file.write("\n# edited\n")
    assert "pip install --quiet torch==2.13.0" in _dry_run(tmp_path)


def _dry_run(folder: Path) -> str:
    out = subprocess.run(["make", "-n", "-C", str(folder), "test"], capture_output=True, text=True)
    return out.stdout
