"""Take docs/web.png, docs/web-viewer.png, docs/web-picker.png and docs/web-phone.png, the README's
pictures of the studio: a painted mask, the looks and the gallery (finished dreams, a grid of
variations, one in progress) at desktop width in light mode, the viewer comparing before and after,
the channel picker with two channels chosen, and the gallery on a phone in dark mode.

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
        "() => [...document.querySelectorAll('#looks img')].every(img => img.complete && img.naturalWidth)",
        timeout=180_000,
    )


def desktop(browser) -> None:
    """The form with a mask being painted, and the gallery (finished dreams, variations, one running),
    at 1280 px in light mode; then the viewer comparing before and after."""
    page = browser.new_page(viewport={"width": 1280, "height": 1500}, color_scheme="light")
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
    expect(page.locator("#jobs li[data-status=running] .status")).to_contain_text("left", timeout=120_000)
    page.screenshot(path=str(DOCS / "web.png"), full_page=True)
    page.locator("#jobs li[data-status=done] .thumb-button").first.click()
    page.wait_for_function("() => document.querySelector('#compare-after').naturalWidth > 0")
    page.locator("#divider").focus()
    for _ in range(3):
        page.keyboard.press("ArrowLeft")
    page.screenshot(path=str(DOCS / "web-viewer.png"))
    page.close()


def picker(browser) -> None:
    """The channel picker on blocks.11 once its first page of pictures is made, two of them chosen."""
    page = browser.new_page(viewport={"width": 1280, "height": 900}, color_scheme="light")
    page.goto(URL)
    page.wait_for_function("() => document.querySelectorAll('#model option').length > 0")
    page.locator("#picker summary").click()
    page.select_option("#picker-layer", "blocks.11")
    expect(page.locator("#picker-made")).to_have_text("All 24 pictures made", timeout=300_000)
    tiles = page.locator("#picker-tiles .tile")
    tiles.nth(4).click()
    page.fill("#picker-weight", "0.5")
    tiles.nth(9).click()
    page.wait_for_function("() => [...document.querySelectorAll('#picker-tiles img')].every(i => i.complete)")
    page.locator("#picker").screenshot(path=str(DOCS / "web-picker.png"))
    page.close()


def phone(browser) -> None:
    """The gallery at 390 px in dark mode, as a phone shows it."""
    page = browser.new_page(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, color_scheme="dark"
    )
    page.goto(URL)
    wait_for_thumbnails(page)
    expect(page.locator("#jobs li[data-status=done]").first).to_be_visible()
    page.locator("main > section").screenshot(path=str(DOCS / "web-phone.png"))
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
            finished = [
                submit("chelsea", steps="12", octaves="4", max_side="512", preset=preset)
                for preset in ("objects", "edges", "textures")
            ]
            finished.append(submit("coffee", steps="12", octaves="4", max_side="512", layers="class:281"))
            files = {"image": ("chelsea.png", sample_path("chelsea").read_bytes(), "image/png")}
            variations = {"steps": "6", "octaves": "3", "max_side": "256", "vary1": "seed", "values1": "1,2",
                          "vary2": "preset", "values2": "patterns,objects"}  # fmt: skip
            finished += [job["id"] for job in httpx.post(f"{URL}/api/sweeps", files=files, data=variations,
                                                           timeout=60).json()]  # fmt: skip
            while any(httpx.get(f"{URL}/api/jobs/{job}").json()["status"] != "done" for job in finished):
                time.sleep(0.5)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=FLAGS)
                picker(browser)
                submit("coffee", steps="200", octaves="4", max_side="600")
                desktop(browser)
                phone(browser)
                browser.close()
        finally:
            server.terminate()
            server.wait()
    print(f"wrote {', '.join(str(DOCS / name) for name in ('web.png', 'web-viewer.png', 'web-picker.png'))}")
    print(f"  and {DOCS / 'web-phone.png'}")


if __name__ == "__main__":
    main()
