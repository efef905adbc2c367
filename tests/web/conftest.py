"""Fixtures of the web tests that start other processes: a real ``reverie serve`` and Debian's
Chromium under Playwright (a test module may define its own, which then wins)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from test_page import CHROMIUM, CHROMIUM_FLAGS
from web_server import Server


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """``reverie serve`` on a free port with a data folder of its own, killed afterwards."""
    running = Server(tmp_path / "data")
    yield running
    running.kill()


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium, Debian's (Playwright's own download is never used)."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: install Debian's chromium (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()
