"""The studio page in a real browser (Debian's Chromium under Playwright) against a real server:
the before/after viewer, reusing settings, a painted mask, zooms and videos, phones, keyboards,
dark mode, the offline API docs."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import numpy as np
import pytest
from browsers import api_job, open_page
from PIL import Image
from web_server import Server


@pytest.fixture
def page(browser, server: Server):
    page = open_page(browser, server)
    yield page
    page.close()


def fill(page, values: dict[str, str]) -> None:
    for name, value in values.items():
        page.fill(f"#{name}", value)


def test_the_viewer_compares_before_and_after(page, server: Server, chelsea_path: Path) -> None:
    from playwright.sync_api import expect

    api_job(server, chelsea_path)
    card = page.locator("#jobs li").first
    expect(card).to_have_attribute("data-status", "done", timeout=60_000)
    expect(card.locator(".meta")).to_contain_text("128\u00d785")  # the result's own size, 128 by 85
    card.locator(".thumb-button").click()
    expect(page.locator("#viewer")).to_be_visible()
    for picture in ("#compare-before", "#compare-after"):
        page.wait_for_function(f"() => document.querySelector('{picture}').naturalWidth === 128")
    divider = page.locator("#divider")
    divider.focus()
    page.keyboard.press("Home")
    for _ in range(4):
        page.keyboard.press("ArrowRight")  # the divider moves; the viewer stays on this dream
    expect(divider).to_have_attribute("aria-valuenow", "20")
    clip = page.eval_on_selector("#compare-after-box", "box => box.style.clipPath")
    assert clip == "inset(0px 0px 0px 20%)"
    box = page.locator("#compare").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] * 0.75, box["y"] + box["height"] / 2)  # drag on the picture
    expect(divider).to_have_attribute("aria-valuenow", "75")
    page.click("#viewer-actual")  # 100%: the picture at its own pixels
    assert page.eval_on_selector("#compare", "c => c.getBoundingClientRect().width") == pytest.approx(
        128, abs=1
    )
    page.keyboard.press("Escape")
    expect(page.locator("#viewer")).to_be_hidden()
    expect(card.locator(".thumb-button")).to_be_focused()  # back where the viewer was opened


def test_a_jobs_settings_can_be_reused_and_dreamed_again(page, server: Server, chelsea_path: Path) -> None:
    from playwright.sync_api import expect

    api_job(server, chelsea_path, steps="3", seed="5", step_size="0.02", preset="textures")
    card = page.locator("#jobs li").first
    expect(card).to_have_attribute("data-status", "done", timeout=60_000)
    card.locator("button.reuse").click()
    assert [page.input_value(f"#{name}") for name in ("steps", "seed", "max_side")] == ["3", "5", "128"]
    assert float(page.input_value("#step_size")) == 0.02
    assert page.is_checked('#looks input[value="textures"]')
    card.locator("button.again").click()
    expect(page.locator("#jobs li")).to_have_count(2)
    jobs = server.get("/api/jobs").json()
    assert jobs[0]["settings"]["seed"] != 5 and jobs[0]["settings"]["steps"] == 3


def test_a_painted_mask_leaves_the_rest_of_the_photo_as_it_was(
    page, server: Server, chelsea_path: Path
) -> None:
    from playwright.sync_api import expect

    page.set_input_files("#image-input", str(chelsea_path))
    expect(page.locator("#upload-preview")).to_be_visible()
    page.check("#use-mask")
    canvas = page.locator("#mask-canvas")
    expect(canvas).to_be_visible()
    box = canvas.bounding_box()
    assert box is not None
    page.locator("#brush-size").fill("60")
    for row in range(8):  # paint the right third
        y = box["y"] + box["height"] * (row + 0.5) / 8
        page.mouse.move(box["x"] + box["width"] * 0.72, y)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.99, y, steps=6)
        page.mouse.up()
    fill(page, {"steps": "6", "octaves": "2", "max_side": "128"})
    page.locator("#step_size").fill("0.05")
    page.click("#submit")
    card = page.locator("#jobs li").first
    expect(card).to_have_attribute("data-status", "done", timeout=60_000)
    job = server.get("/api/jobs").json()[0]
    assert job["has_mask"]
    result = np.asarray(Image.open(io.BytesIO(server.get(job["result_url"]).content)).convert("RGB"), float)
    source = np.asarray(Image.open(io.BytesIO(server.get(job["source_url"]).content)).convert("RGB"), float)
    width = result.shape[1]
    assert np.abs(result[:, : width * 4 // 10] - source[:, : width * 4 // 10]).max() <= 1  # untouched
    assert np.abs(result[:, width * 8 // 10 :] - source[:, width * 8 // 10 :]).mean() > 3  # dreamed


def test_a_zoom_job_runs_from_the_page_and_plays(page, server: Server, chelsea_path: Path) -> None:
    from playwright.sync_api import expect

    page.check('input[name="kind"][value="zoom"]')
    expect(page.locator("#zoom-knobs")).to_be_visible()
    page.set_input_files("#image-input", str(chelsea_path))
    fill(page, {"steps": "1", "octaves": "1", "max_side": "96", "frames": "3"})
    page.select_option("#format", "gif")
    page.click("#submit")
    card = page.locator("#jobs li").first
    expect(card).to_have_attribute("data-kind", "zoom")
    expect(card).to_have_attribute("data-status", "done", timeout=90_000)
    card.locator(".thumb-button").click()
    page.wait_for_function("() => document.querySelector('#viewer-animation').naturalWidth > 0")
    page.click("#viewer-close")
    with page.expect_download() as info:
        card.locator("a.download").click()
    assert info.value.suggested_filename == "chelsea-zoom.gif"
    frames = Image.open(info.value.path())
    assert frames.n_frames == 3


def test_a_video_job_shows_progress_per_frame_and_plays(page, server: Server, pan_video: Path) -> None:
    from playwright.sync_api import expect

    page.check('input[name="kind"][value="video"]')
    expect(page.locator("#image-input")).to_have_attribute("accept", "video/*")
    page.set_input_files("#image-input", str(pan_video))
    expect(page.locator("#video-preview")).to_be_visible()
    fill(page, {"steps": "30", "octaves": "2", "max_side": "96"})  # slow enough to be watched
    page.click("#submit")
    card = page.locator("#jobs li").first
    expect(card.locator(".status")).to_contain_text("frame", timeout=60_000)
    expect(card).to_have_attribute("data-status", "done", timeout=120_000)
    card.locator(".thumb-button").click()
    page.wait_for_function("() => document.querySelector('#viewer-video').readyState >= 1", timeout=20_000)
    duration = page.eval_on_selector("#viewer-video", "video => video.duration")
    assert duration == pytest.approx(1.0, abs=0.15)  # 10 frames at 10 fps


def test_a_phone_screen_has_no_sideways_scrolling(browser, server: Server, chelsea_path: Path) -> None:
    from playwright.sync_api import expect

    api_job(server, chelsea_path)  # a finished card with its settings and buttons
    phone = open_page(browser, server, width=390, height=844, is_mobile=True, has_touch=True)
    try:
        card = phone.locator("#jobs li").first
        expect(card).to_have_attribute("data-status", "done", timeout=60_000)
        phone.set_input_files("#image-input", str(chelsea_path))
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page is {width} px wide on a 390 px screen"
        button = phone.locator("#submit").bounding_box()
        feedback = phone.locator("#message").bounding_box()
        assert button and feedback and abs(button["y"] - feedback["y"]) < 60  # beside or just under
    finally:
        phone.close()


def test_upload_and_dream_with_the_keyboard_alone(page, server: Server, chelsea_path: Path) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect

    upload = page.get_by_label("Photo to dream")
    assert upload.get_attribute("id") == "image-input"
    page.bring_to_front()  # key presses go to the focused page
    page.locator("body").focus()
    for _ in range(12):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "image-input":
            break
    else:
        raise AssertionError("Tab never reaches the upload")
    for attempt in range(3):  # headless Chromium now and then drops the first key's file chooser
        try:
            with page.expect_file_chooser(timeout=10_000) as chooser:
                page.keyboard.press("Space")
            break
        except PlaywrightTimeout:
            assert attempt < 2, "Space on the focused upload never opened a file chooser"
            assert page.evaluate("document.activeElement.id") == "image-input"  # focus stayed put
    chooser.value.set_files(str(chelsea_path))
    expect(page.locator("#upload-preview")).to_be_visible()
    page.locator("#max_side").focus()
    page.keyboard.press("Control+A")
    page.keyboard.type("96")
    page.locator("#steps").focus()
    page.keyboard.press("Control+A")
    page.keyboard.type("1")
    page.keyboard.press("Enter")  # submits the form
    expect(page.locator("#message")).to_contain_text("queued", timeout=30_000)
    expect(page.locator("#jobs li")).to_have_count(1)


def test_form_values_are_kept_across_a_reload(page) -> None:
    page.fill("#steps", "17")
    page.check("#keep_colors")
    page.check('#looks input[value="edges"]')
    page.reload()
    page.wait_for_function("() => document.querySelectorAll('#looks input').length > 0")
    assert page.input_value("#steps") == "17" and page.is_checked("#keep_colors")
    assert page.is_checked('#looks input[value="edges"]')


def test_looks_are_thumbnails_with_descriptions(page) -> None:
    looks = page.locator("#looks label")
    assert looks.count() == 4
    assert all(len(text) > 10 for text in looks.locator("small").all_inner_texts())
    page.wait_for_function("() => document.querySelector('#looks img').naturalWidth > 0", timeout=60_000)


def test_the_class_picker_finds_imagenet_names(page) -> None:
    page.fill("#class-name", "espresso")
    page.dispatch_event("#class-name", "change")
    assert page.input_value("#layers") == "class:967"
    crane = page.eval_on_selector_all("#class-names option", "options => options.map(o => o.value)")
    assert "crane (134)" in crane and "crane (517)" in crane  # one name, two classes


def test_dark_mode_follows_the_system(browser, server: Server) -> None:
    dark = open_page(browser, server, color_scheme="dark")
    try:
        colour = dark.evaluate("getComputedStyle(document.documentElement).backgroundColor")
    finally:
        dark.close()
    red, green, blue = (int(part) for part in colour[colour.index("(") + 1 : -1].split(",")[:3])
    assert red + green + blue < 3 * 60, colour


def test_the_api_docs_work_offline(page, server: Server) -> None:
    from playwright.sync_api import expect

    outside: list[str] = []

    def only_this_server(route) -> None:
        if route.request.url.startswith(server.url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", only_this_server)
    page.goto(f"{server.url}/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Reverie", timeout=30_000)
    expect(page.locator(".opblock-summary-path").first).to_be_visible()
    assert outside == []
    assert httpx.get(f"{server.url}/favicon.ico").headers["content-type"].startswith("image/svg")
