"""Take docs/web.png and docs/web-phone.png, the README's pictures of the studio: a painted mask,
the looks, one finished dream and one in progress, at desktop and at phone width.

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


def wait_for_thumbnails(page) -> None:
    page.wait_for_function(
        "[...document.querySelectorAll('#looks img')].every(img => img.complete && img.naturalWidth)",
        timeout=180_000,
    )


def desktop(browser) -> None:
    """The form with a mask being painted, and the job list, at 1100 px."""
    page = browser.new_page(viewport={"width": 1100, "height": 1500})
    page.goto(URL)
    page.set_input_files("#image-input", str(sample_path("chelsea")))
    expect(page.locator("#upload-preview")).to_be_visible()
    page.check("#use-mask")
    box = page.locator("#mask-canvas").bounding_box()
    for row in range(5):
        y = box["y"] + box["height"] * (0.15 + row * 0.14)
        page.mouse.move(box["x"] + box["width"] * 0.55, y)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.9, y, steps=8)
        page.mouse.up()
    wait_for_thumbnails(page)
    expect(page.locator("#jobs li").first.locator(".status")).to_contain_text("octave 2", timeout=120_000)
    page.screenshot(path=str(DOCS / "web.png"), full_page=True)
    page.close()


def phone(browser) -> None:
    """The top of the page and the looks at 390 px, as a phone shows them."""
    page = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page.goto(URL)
    page.set_input_files("#image-input", str(sample_path("coffee")))
    wait_for_thumbnails(page)
    page.screenshot(path=str(DOCS / "web-phone.png"))
    page.close()


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
                desktop(browser)
                phone(browser)
                browser.close()
        finally:
            server.terminate()
            server.wait()
    print(f"wrote {DOCS / 'web.png'} and {DOCS / 'web-phone.png'}")


if __name__ == "__main__":
    main()
