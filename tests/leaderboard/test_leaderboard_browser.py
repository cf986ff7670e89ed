"""``index.html`` in a real browser: headless Chromium shows every defense, its rank label and
every figure (the rank-group diagrams among them), with nothing on the console.

The page is served over HTTP from a local thread and opened with Chromium's
``--dump-dom``, which prints the DOM after the load event (the page's script
marks each figure that loaded); ``--enable-logging=stderr --v=0`` puts every
console message on stderr as a ``CONSOLE`` line. Plain command-line flags need
no DevTools client library. Chromium is Debian's ``chromium`` package, installed
here when missing and skipped (with the reason) when it cannot be installed.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import threading
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from fedarena.leaderboard import build_leaderboard

INSTALL_TIMEOUT_S = 900


@pytest.fixture(scope="session")
def chromium() -> str:
    found = shutil.which("chromium")
    if found:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        pytest.skip("chromium is missing and cannot be installed here (needs root and apt-get)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    log = ""
    install = ["apt-get", "install", "-y", "chromium"]
    for command in (install, ["apt-get", "update"], install):
        done = subprocess.run(
            command, capture_output=True, text=True, env=env, timeout=INSTALL_TIMEOUT_S
        )
        log = (done.stderr or done.stdout).strip().splitlines()[-1:] or [""]
        if shutil.which("chromium"):
            return shutil.which("chromium")
    pytest.skip(f"apt-get install -y chromium failed: {log[0]}")


class _Page(HTMLParser):
    """What the test reads from the dumped DOM."""

    def __init__(self) -> None:
        super().__init__()
        self.body: dict[str, str | None] = {}
        self.figures: dict[str, bool] = {}
        self.defenses: list[str] = []
        self.ranks: list[str] = []
        self.titles: dict[str, str] = {}
        self._in: str | None = None
        self._title: str | None = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "body":
            self.body = attributes
        elif tag == "img" and "data-figure" in attributes:
            self.figures[attributes["src"]] = attributes.get("data-loaded") == "true"
        css = attributes.get("class")
        self._in = css if tag == "td" and css in ("defense", "rank") else None
        self._title = attributes.get("title")

    def handle_data(self, data):
        if self._in == "defense":
            self.defenses.append(data)
            if self._title is not None:
                self.titles[data] = self._title
        elif self._in == "rank":
            self.ranks.append(data)

    def handle_endtag(self, tag):
        self._in = None


def _open(chromium: str, folder: Path, profile: Path) -> tuple[_Page, list[str]]:
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *args: None  # type: ignore[method-assign]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        shown = subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
                "--disable-sync",
                f"--user-data-dir={profile}",
                "--enable-logging=stderr",
                "--v=0",
                "--virtual-time-budget=10000",
                "--dump-dom",
                f"http://127.0.0.1:{server.server_address[1]}/index.html",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        server.shutdown()
        server.server_close()
    assert shown.returncode == 0, shown.stderr[-2000:]
    page = _Page()
    page.feed(shown.stdout)
    console = [line for line in shown.stderr.splitlines() if ":CONSOLE" in line]
    return page, console


def test_every_defense_and_figure_is_shown_without_console_errors(chromium, store_folder, tmp_path):
    out = tmp_path / "board"
    document = build_leaderboard([store_folder.folder], out)
    page, console = _open(chromium, out, tmp_path / "profile")
    assert console == []
    assert page.body.get("data-ready") == "true"
    expected = {name for panel in document["panels"] for name in panel["figures"].values()}
    # heatmaps of utility and attack success, convergence, ER@10 and the rank groups
    assert len(expected) == 5 * len(document["panels"])
    assert set(page.figures) == expected
    assert all(page.figures.values()), page.figures
    for panel in document["panels"]:
        assert page.figures[panel["figures"]["rank_groups"]] is True
        for entry in panel["ranking"]:
            assert page.defenses.count(entry["display"]) >= len(document["panels"])
    # the rank labels of every ranking, in order, with a shared rank group among them
    labels = [entry["rank"] for panel in document["panels"] for entry in panel["ranking"]]
    assert page.ranks == labels and any(label.endswith("=") for label in labels)


def test_rank_groups_plugin_names_and_privacy_figure_are_shown(chromium, smoke_folder, tmp_path):
    out = tmp_path / "board"
    document = build_leaderboard([smoke_folder.folder], out)
    page, console = _open(chromium, out, tmp_path / "profile")
    assert console == []
    assert page.figures.pop(document["figures"]["privacy_utility"]) is True
    assert all(page.figures.values()), page.figures
    (fedavg, _) = document["panels"]
    assert page.ranks[: len(fedavg["ranking"])] == ["1=", "1=", "3=", "3="]
    # a plugin is shown by its class, its full spec in the tooltip
    assert "NormTrim" in page.defenses and smoke_folder.plugin not in page.defenses
    assert page.titles["NormTrim"] == smoke_folder.plugin


def test_a_missing_figure_is_caught(chromium, store_folder, tmp_path):
    out = tmp_path / "board"
    document = build_leaderboard([store_folder.folder], out)
    missing = document["panels"][0]["figures"]["utility"]
    (out / missing).unlink()
    page, console = _open(chromium, out, tmp_path / "profile")
    assert page.figures[missing] is False
    assert any(f"figure not loaded: {missing}" in line for line in console), console
