"""Take docs/web.png, the README's picture of the web app: one finished dream, one in progress.

.venv/bin/python docs/make_screenshot.py      (needs Debian's chromium, as the tests do)
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from playwright.sync_api import expect, sync_playwright

from reverie.samples import sample_path

DOCS = Path(__file__).resolve().parent
PORT = 8917
URL = f"http://127.0.0.1:{PORT}"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]


def submit(name: str, **fields: str) -> str:
    files = {"image": (f"{name}.png", sample_path(name).read_bytes(), "image/png")}
    return httpx.post(f"{URL}/api/jobs", files=files, data=fields, timeout=60).json()["id"]


def main() -> None:
    with tempfile.TemporaryDirectory() as data:
        command = [sys.executable, "-m", "reverie.cli", "serve", "--port", str(PORT), "--data-dir", data]
        server = subprocess.Popen(command)
        try:
            for _ in range(300):
                try:
                    httpx.get(f"{URL}/api/models", timeout=1)
                    break
                except httpx.HTTPError:
                    time.sleep(0.2)
            done = submit("chelsea", steps="12", octaves="4", max_side="512", preset="objects")
            while httpx.get(f"{URL}/api/jobs/{done}").json()["status"] != "done":
                time.sleep(0.5)
            submit("coffee", steps="200", octaves="4", max_side="600")
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=FLAGS)
                page = browser.new_page(viewport={"width": 1000, "height": 1000})
                page.goto(URL)
                page.set_input_files("#image-input", str(sample_path("chelsea")))
                expect(page.locator("#jobs li").first.locator(".status")).to_contain_text(
                    "octave 2", timeout=120_000
                )
                page.screenshot(path=str(DOCS / "web.png"))
                browser.close()
        finally:
            server.terminate()
            server.wait()
    print(f"wrote {DOCS / 'web.png'}")


if __name__ == "__main__":
    main()
