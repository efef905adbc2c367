"""The gallery and the viewer as a keyboard user, a screen reader and a phone meet them, in a real browser
against a real server: live updates that keep focus, the wait told, a viewer that steps through dreams,
honest objectives, seeds, variations and share links."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest
from browsers import QUICK, api_job, open_page, tab_to
from web_server import Server

#: Long enough on two cores to be watched running for a few seconds.
SLOW = {"steps": "200", "octaves": "3", "max_side": "256"}


@pytest.fixture
def page(browser, server: Server):
    page = open_page(browser, server, width=1280, height=900)
    yield page
    page.close()


def test_focus_survives_live_updates_while_another_job_runs(page, server: Server, chelsea_path: Path) -> None:
    from playwright.sync_api import expect

    finished = api_job(server, chelsea_path)
    done_card = page.locator(f'#jobs li[data-id="{finished["id"]}"]')
    expect(done_card).to_have_attribute("data-status", "done", timeout=60_000)
    running = api_job(server, chelsea_path, **SLOW)
    busy_card = page.locator(f'#jobs li[data-id="{running["id"]}"]')
    expect(busy_card).to_have_attribute("data-status", "running", timeout=60_000)
    page.bring_to_front()
    page.locator("#gallery-title").evaluate("title => { title.tabIndex = -1; title.focus(); }")
    tab_to(page, f'#jobs li[data-id="{finished["id"]}"] .thumb-button')
    time.sleep(2.5)  # several refreshes of the running job's progress
    expect(done_card.locator(".thumb-button")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#viewer")).to_be_visible()
    page.keyboard.press("Escape")
    expect(done_card.locator(".thumb-button")).to_be_focused()
    tab_to(page, f'#jobs li[data-id="{finished["id"]}"] button.reuse')
    time.sleep(1.5)
    expect(done_card.locator("button.reuse")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#message")).to_contain_text("Settings of chelsea.png are in the form")
    cancel = busy_card.locator("button.cancel")
    cancel.focus()
    time.sleep(1.5)
    expect(cancel).to_be_focused()  # a running card's Cancel keeps the focus while it updates
    page.keyboard.press("Enter")
    expect(busy_card).to_have_attribute("data-status", "cancelled", timeout=30_000)
    expect(busy_card.locator(".thumb-button")).to_be_focused()  # not the page's top


def test_screen_readers_hear_a_job_start_progress_and_end(page, server: Server, chelsea_path: Path) -> None:
    from playwright.sync_api import expect

    announcer = page.locator("#announcer")
    assert announcer.get_attribute("aria-live") == "polite"
    job = api_job(server, chelsea_path, steps="60", octaves="3", max_side="256")
    expect(announcer).to_contain_text("dreaming", timeout=60_000)
    card = page.locator(f'#jobs li[data-id="{job["id"]}"]')
    expect(card).to_have_attribute("data-status", "done", timeout=90_000)
    expect(announcer).to_contain_text("chelsea.png: done")


def test_the_viewer_steps_through_dreams_with_the_arrow_keys(
    page, server: Server, chelsea_path: Path
) -> None:
    from playwright.sync_api import expect

    first = api_job(server, chelsea_path, preset="edges")
    second = api_job(server, chelsea_path, preset="objects")
    for job in (first, second):
        expect(page.locator(f'#jobs li[data-id="{job["id"]}"]')).to_have_attribute(
            "data-status", "done", timeout=90_000
        )
    page.locator(f'#jobs li[data-id="{second["id"]}"] .thumb-button').click()  # newest first
    title = page.locator("#viewer-title")
    expect(title).to_contain_text("objects look")
    expect(page.locator("#viewer-prev")).to_be_disabled()
    page.locator("#viewer-fit").focus()
    page.keyboard.press("ArrowRight")
    expect(title).to_contain_text("edges look")
    expect(page.locator("#viewer-next")).to_be_disabled()
    page.keyboard.press("ArrowLeft")
    expect(title).to_contain_text("objects look")
    page.keyboard.press("Escape")
    expect(page.locator("#viewer")).to_be_hidden()


def test_a_dreamed_thing_is_shown_removable_and_never_left_behind(page) -> None:
    from playwright.sync_api import expect

    page.fill("#class-name", "espresso")
    page.dispatch_event("#class-name", "change")
    chip = page.locator("#class-chip")
    expect(chip).to_be_visible()
    expect(chip).to_contain_text("espresso (class 967)")
    page.check('#looks input[value="edges"]', force=True)  # another look: the class goes
    assert page.input_value("#layers") == "" and chip.is_hidden()
    page.fill("#class-name", "tabby")
    page.dispatch_event("#class-name", "change")
    page.reload()
    page.wait_for_function("() => document.querySelectorAll('#looks input').length > 0")
    expect(page.locator("#class-chip")).to_contain_text("tabby")  # restored with the layers
    page.click("#class-chip-remove")
    assert page.input_value("#layers") == "" and page.locator("#class-chip").is_hidden()


def test_a_random_seed_and_an_unlocked_one_per_dream(page, server: Server, chelsea_path: Path) -> None:
    from playwright.sync_api import expect

    before = page.input_value("#seed")
    page.click("#seed-random")
    assert page.input_value("#seed") != before
    page.click("#seed-lock")
    expect(page.locator("#seed-lock")).to_have_attribute("aria-pressed", "false")
    page.set_input_files("#image-input", str(chelsea_path))
    for name, value in QUICK.items():
        page.fill(f"#{name}", value)
    for _ in range(2):
        page.click("#submit")
        expect(page.locator("#message")).to_contain_text("queued", timeout=30_000)
        page.locator("#message").evaluate("m => { m.textContent = ''; }")
    expect(page.locator("#jobs li")).to_have_count(2)
    seeds = {job["settings"]["seed"] for job in server.get("/api/jobs").json()}
    assert len(seeds) == 2  # unlocked: each dream drew its own


def test_an_upload_waiting_for_room_says_so(page, chelsea_path: Path) -> None:
    """While an upload waits for room, the page says so (the server's answer is delayed here)."""
    from playwright.sync_api import expect

    def busy(route) -> None:
        route.fulfill(json={"waiting_uploads": 3, "kinds": ["dream"], "caps": {}})

    def slow_upload(route) -> None:
        time.sleep(3)
        route.continue_()

    page.route("**/api/server", busy)
    page.route(
        "**/api/jobs",
        lambda route: slow_upload(route) if route.request.method == "POST" else route.continue_(),
    )
    page.set_input_files("#image-input", str(chelsea_path))
    for name, value in QUICK.items():
        page.fill(f"#{name}", value)
    page.click("#submit")
    expect(page.locator("#message")).to_contain_text("Waiting for room", timeout=10_000)
    expect(page.locator("#message")).to_contain_text("queued", timeout=30_000)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_gallery_fits_a_phone(browser, server: Server, chelsea_path: Path, scheme: str) -> None:
    from playwright.sync_api import expect

    for _ in range(3):
        api_job(server, chelsea_path)
    phone = open_page(
        browser, server, width=390, height=844, is_mobile=True, has_touch=True, color_scheme=scheme
    )
    try:
        cards = phone.locator("#jobs li")
        expect(cards).to_have_count(3)
        expect(cards.first).to_have_attribute("data-status", "done", timeout=90_000)
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page is {width} px wide on a 390 px screen"
        boxes = [cards.nth(index).bounding_box() for index in range(2)]
        assert boxes[0] and boxes[1] and boxes[0]["y"] == boxes[1]["y"]  # a grid: two cards side by side
        cards.first.locator(".thumb-button").click()
        viewer = phone.locator("#viewer").bounding_box()
        assert viewer and viewer["width"] <= 390
        background = phone.evaluate("getComputedStyle(document.documentElement).backgroundColor")
        channels = [int(part) for part in background[background.index("(") + 1 : -1].split(",")[:3]]
        assert (sum(channels) < 180) == (scheme == "dark"), background
    finally:
        phone.close()


def test_more_dreams_than_a_page_are_reached_by_show_more(page, server: Server, chelsea_path: Path) -> None:
    from playwright.sync_api import expect

    store_jobs = [api_job(server, chelsea_path, steps="1", max_side="64") for _ in range(3)]
    page.evaluate("() => { limit = 2; refresh(); }")  # a page of two, as if there were many more
    expect(page.locator("#jobs li")).to_have_count(2)
    expect(page.locator("#more")).to_be_visible()
    page.click("#more")
    expect(page.locator("#jobs li")).to_have_count(3)
    assert {job["id"] for job in store_jobs} == set(
        page.eval_on_selector_all("#jobs li", "l => l.map(c => c.dataset.id)")
    )
    assert httpx.get(f"{page.url.split('?')[0]}api/jobs?limit=1").headers.get("x-total-count") == "3"


def test_a_result_is_shared_by_a_link_that_can_be_taken_back(
    page, server: Server, chelsea_path: Path
) -> None:
    from playwright.sync_api import expect

    job = api_job(server, chelsea_path)
    card = page.locator(f'#jobs li[data-id="{job["id"]}"]')
    expect(card).to_have_attribute("data-status", "done", timeout=60_000)
    card.locator("button.share").click()
    dialog = page.locator("#share-dialog")
    expect(dialog).to_be_visible()
    page.check("#share-settings")
    page.click("#share-create")
    link = page.locator("#share-url")
    expect(link).to_have_value(re.compile(r"/s/[A-Za-z0-9_-]{20,}$"))
    url = link.input_value()
    shared = httpx.get(url)
    assert shared.status_code == 200 and "Seed" in shared.text  # the page, with its settings
    assert httpx.get(f"{url}/result").headers["content-type"] == "image/png"
    expect(card.locator("button.share")).to_have_text("Shared: manage")
    page.click("#share-revoke")
    expect(page.locator("#share-message")).to_contain_text("no longer works")
    assert httpx.get(url).status_code == 404
    page.click("#share-close")
    expect(card.locator("button.share")).to_have_text("Share")


def test_variations_are_a_labelled_grid_whose_cells_open_and_are_reused(
    page, server: Server, chelsea_path: Path
) -> None:
    from playwright.sync_api import expect

    page.set_input_files("#image-input", str(chelsea_path))
    for name, value in {**QUICK, "steps": "1", "max_side": "96"}.items():
        page.fill(f"#{name}", value)
    page.check("#variations")
    page.select_option("#vary1", "seed")
    page.fill("#values1", "1,2")
    page.select_option("#vary2", "octaves")
    page.fill("#values2", "1,2")
    page.click("#submit")
    expect(page.locator("#message")).to_contain_text("4 variations of chelsea.png are queued", timeout=30_000)
    group = page.locator("#jobs li.group")
    expect(group).to_have_count(1)
    cells = group.locator("button.cell")
    expect(cells).to_have_count(4)
    expect(group.locator(".meta")).to_contain_text("4 of 4 done", timeout=120_000)
    labels = cells.locator(".cell-label").all_inner_texts()
    assert sorted(labels) == sorted(f"seed={s}, octaves={o}" for s in (1, 2) for o in (1, 2)), labels
    group.locator("button.cell", has_text="seed=2, octaves=2").click()
    expect(page.locator("#viewer")).to_be_visible()
    expect(page.locator("#viewer-title")).to_contain_text("chelsea.png")
    page.click("#viewer-reuse")
    assert (page.input_value("#seed"), page.input_value("#octaves")) == ("2", "2")  # that cell's


def test_a_keyboard_shares_and_deletes_while_another_job_runs(
    page, server: Server, chelsea_path: Path
) -> None:
    from playwright.sync_api import expect

    finished = api_job(server, chelsea_path)
    card = page.locator(f'#jobs li[data-id="{finished["id"]}"]')
    expect(card).to_have_attribute("data-status", "done", timeout=60_000)
    running = api_job(server, chelsea_path, **SLOW)
    expect(page.locator(f'#jobs li[data-id="{running["id"]}"]')).to_have_attribute(
        "data-status", "running", timeout=60_000
    )
    page.bring_to_front()
    card.locator(".thumb-button").focus()
    tab_to(page, f'#jobs li[data-id="{finished["id"]}"] button.share')
    page.keyboard.press("Enter")
    expect(page.locator("#share-dialog")).to_be_visible()
    tab_to(page, "#share-create")
    page.keyboard.press("Enter")
    expect(page.locator("#share-copy")).to_be_focused()
    url = page.input_value("#share-url")
    assert httpx.get(url).status_code == 200
    page.keyboard.press("Escape")
    expect(page.locator("#share-dialog")).to_be_hidden()
    page.on("dialog", lambda dialog: dialog.accept())  # "Delete ... and its dream?"
    card.locator(".thumb-button").focus()
    tab_to(page, f'#jobs li[data-id="{finished["id"]}"] button.delete')
    page.keyboard.press("Enter")
    expect(card).to_have_count(0)
    assert page.evaluate("document.activeElement.closest('#jobs li') !== null")  # focus stays in the gallery
    assert httpx.get(url).status_code == 404  # deleting the job took its link back
    server.post(f"/api/jobs/{running['id']}/cancel")
