"""The studio in a real browser: Debian's Chromium under Playwright (never Playwright's own download),
a page opened on a real server, and jobs sent through the API."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from web_server import Server

CHROMIUM = os.environ.get("REVERIE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
#: A dream of a second or two.
QUICK = {"steps": "2", "octaves": "1", "max_side": "128"}


def open_page(browser, server: Server, width: int = 1100, height: int = 900, **options):
    """A new page on ``server``, once its settings (the models) have loaded."""
    page = browser.new_page(accept_downloads=True, viewport={"width": width, "height": height}, **options)
    page.goto(server.url)
    page.wait_for_function("() => document.querySelectorAll('#model option').length > 0")
    return page


def api_job(server: Server, photo: Path, **fields: str) -> dict:
    """A job sent as a script would send it (QUICK settings unless ``fields`` say otherwise)."""
    files = {"image": (photo.name, photo.read_bytes(), "image/png")}
    response = server.post("/api/jobs", files=files, data={**QUICK, **fields})
    assert response.status_code == 201, response.text
    return response.json()


def tab_to(page, selector: str, limit: int = 120) -> None:
    """Press Tab until the element matching ``selector`` has the focus."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(f"document.activeElement.matches({json.dumps(selector)})"):
            return
    raise AssertionError(f"Tab never reaches {selector}")
