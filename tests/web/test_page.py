"""``reverie serve`` as a user meets it: a real server process, the real page in headless Chromium.

Chromium is Debian's (``apt-get install chromium``, which the README's test command does) driven by
Playwright with ``executable_path``; Playwright's own browser download is never used.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import pytest
from browsers import CHROMIUM, CHROMIUM_FLAGS
from PIL import Image
from web_server import Server

from reverie.web.jobs import JobStore


@pytest.fixture
def page(server: Server):
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: install Debian's chromium (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page(accept_downloads=True, viewport={"width": 1100, "height": 900})
        page.goto(server.url)
        yield page
        browser.close()


def test_upload_progress_and_download_in_the_page(page, chelsea_path: Path, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    expect(page.locator("#model")).to_have_value("efficientnet_lite0")
    page.set_input_files("#image-input", str(chelsea_path))
    expect(page.locator("#upload-preview")).to_be_visible()
    page.fill("#steps", "25")
    page.fill("#octaves", "3")
    page.fill("#max_side", "256")
    page.click("#submit")
    job = page.locator("#jobs li").first
    expect(job).to_have_attribute("data-status", "running", timeout=30_000)
    expect(job.locator("progress")).to_be_visible()
    expect(job.locator(".status")).to_contain_text("octave", timeout=30_000)
    download_link = job.locator("a.download")
    expect(download_link).to_be_visible(timeout=120_000)
    with page.expect_download() as info:
        download_link.click()
    saved = tmp_path / "downloaded.png"
    info.value.save_as(saved)
    assert info.value.suggested_filename == "chelsea-dream.png"
    assert Image.open(saved).size == (256, 170)


def test_a_bad_upload_gets_a_message_in_the_page(page, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    fake = tmp_path / "holiday.jpg"
    fake.write_text("this is not a photo")
    page.set_input_files("#image-input", str(fake))
    page.click("#submit")
    expect(page.locator("#message")).to_contain_text("not an image")
    expect(page.locator("#no-jobs")).to_be_visible()


def test_a_mistake_is_shown_beside_its_field_and_the_field_takes_focus(page, chelsea_path: Path) -> None:
    from playwright.sync_api import expect

    assert page.get_attribute("#steps", "max") == "200"  # the server's cap, from the declaration
    page.set_input_files("#image-input", str(chelsea_path))
    page.fill("#steps", "500")
    page.fill("#layers", "blocks.8=1e39")
    page.click("#submit")
    note = page.locator("#steps + .field-error")
    expect(note).to_have_text("Steps must be between 1 and 200; got 500")
    expect(page.locator("#steps")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#steps")).to_be_focused()
    page.fill("#steps", "5")
    page.click("#submit")
    expect(page.locator("#layers + .field-error")).to_contain_text(
        "the weight of 'blocks.8=1e39' must be between"
    )
    expect(page.locator("#steps + .field-error")).to_have_count(0)  # the mended field is clear again
    expect(page.locator("#no-jobs")).to_be_visible()


def test_sigterm_stops_the_server_and_marks_the_running_job_interrupted(
    server: Server, chelsea_path: Path, tmp_path: Path
) -> None:
    fields = {"steps": "200", "octaves": "3", "max_side": "320"}
    files = {"image": ("cat.png", chelsea_path.read_bytes(), "image/png")}
    job = httpx.post(f"{server.url}/api/jobs", files=files, data=fields, timeout=30).json()
    deadline = time.monotonic() + 30
    while httpx.get(f"{server.url}/api/jobs/{job['id']}").json()["status"] != "running":
        assert time.monotonic() < deadline, "job never started"
        time.sleep(0.1)
    started = time.monotonic()
    status, output = server.stop()
    assert time.monotonic() - started < 15
    # uvicorn re-raises SIGTERM once it has shut down cleanly, so the status says "terminated".
    assert status in (0, -signal.SIGTERM), output
    assert "reverie: server stopped; 1 running job(s) marked interrupted" in output, output
    stored = JobStore(tmp_path / "data").get(job["id"])
    assert stored is not None and stored.status == "interrupted"
