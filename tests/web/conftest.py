"""Fixtures of the web tests that start a browser or a real server (both marked slow by their names)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from browsers import CHROMIUM, CHROMIUM_FLAGS
from web_server import Server


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: install Debian's chromium (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = Server(tmp_path / "data")
    yield running
    running.kill()
