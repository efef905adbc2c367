"""The channel picker in a real browser against a real server: a layer's channels shown as pictures
that arrive while the page is in use, chosen by mouse and by keyboard into Layers with their weight,
the chosen class's picture beside its chip, and a phone in light and dark mode."""

from __future__ import annotations

import re
import time

import pytest
from browsers import open_page, tab_to
from web_server import Server

#: A shallow layer with 16 channels: its tiles are quick to dream (the model stops at it).
LAYER = "blocks.0"


@pytest.fixture
def page(browser, server: Server):
    page = open_page(browser, server, width=1280, height=900)
    yield page
    page.close()


def open_picker_by_keyboard(page) -> None:
    page.locator("#layers").focus()
    tab_to(page, "#picker summary")
    page.keyboard.press("Enter")
    tab_to(page, "#picker-layer")
    page.select_option("#picker-layer", LAYER)


def test_channels_are_chosen_by_their_pictures_with_mouse_and_keyboard(page) -> None:
    from playwright.sync_api import expect

    open_picker_by_keyboard(page)
    tiles = page.locator("#picker-tiles .tile")
    expect(tiles).to_have_count(16, timeout=30_000)
    expect(page.locator("#picker-made")).to_have_text(re.compile(r"(\d+ of|All) 16 pictures made"))
    expect(page.locator("#picker-said")).to_contain_text(f"channels of {LAYER}")
    # the pictures arrive while the page is in use; none is rebuilt, so focus stays put
    tiles.nth(15).focus()
    expect(page.locator("#picker-made")).to_have_text("All 16 pictures made", timeout=120_000)
    expect(tiles.nth(15)).to_be_focused()
    expect(page.locator("#picker-said")).to_have_text("All 16 pictures are made.")
    expect(page.locator("#picker-progress")).to_have_attribute("value", "16")
    expect(page.locator("#picker-more")).to_be_hidden()
    assert page.evaluate("document.querySelector('#picker-tiles .tile img').naturalWidth") == 128
    expect(tiles.nth(0)).to_have_attribute("aria-label", "Channel 0")

    tiles.nth(0).click()  # by mouse
    expect(page.locator("#layers")).to_have_value(f"{LAYER}:0")
    expect(tiles.nth(0)).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#picker-said")).to_have_text(f"Added {LAYER}:0 to Layers.")

    page.fill("#picker-weight", "0.5")
    page.keyboard.press("Enter")  # in the weight: no dream is sent
    tiles.nth(3).focus()
    page.keyboard.press("Enter")  # by keyboard, with the weight
    expect(page.locator("#layers")).to_have_value(f"{LAYER}:0,{LAYER}:3=0.5")
    page.keyboard.press("Space")  # chosen again: taken out
    expect(page.locator("#layers")).to_have_value(f"{LAYER}:0")
    expect(tiles.nth(3)).to_have_attribute("aria-pressed", "false")
    expect(page.locator("#picker-said")).to_have_text(f"Took {LAYER}:3 out of Layers.")

    page.fill("#layers", f"{LAYER}:5=2,blocks.8")  # typed terms mark their tiles too
    expect(tiles.nth(5)).to_have_attribute("aria-pressed", "true")
    expect(tiles.nth(0)).to_have_attribute("aria-pressed", "false")

    page.fill("#picker-weight", "5000")  # beyond the objective's bound: said, nothing added
    tiles.nth(7).click()
    expect(page.locator("#message")).to_contain_text("the weight must be a number from -1000 to 1000")
    expect(page.locator("#layers")).to_have_value(f"{LAYER}:5=2,blocks.8")
    assert "choose a photo" not in page.locator("#message").inner_text()


def test_show_more_appends_the_next_channels_once_and_moves_focus_to_them(page) -> None:
    from playwright.sync_api import expect

    page.locator("#picker summary").click()
    page.select_option("#picker-layer", "stem")  # 32 channels: two pages
    tiles = page.locator("#picker-tiles .tile")
    expect(tiles.nth(0)).to_have_attribute("data-term", "stem:0", timeout=30_000)
    expect(tiles).to_have_count(24)
    tiles.nth(0).evaluate("tile => { tile.seenBefore = true; }")
    page.locator("#picker-more").dblclick()  # a double click asks for the next page once
    expect(tiles).to_have_count(32)
    time.sleep(1)
    expect(tiles).to_have_count(32)
    expect(tiles.nth(24)).to_be_focused()
    assert tiles.nth(0).evaluate("tile => tile.seenBefore === true")  # appended, not rebuilt
    expect(page.locator("#picker-more")).to_be_hidden()
    expect(tiles.nth(31).locator(".tile-label")).to_have_text("31")


def test_the_chosen_class_shows_its_picture_and_the_layer_follows_the_look(page) -> None:
    from playwright.sync_api import expect

    page.fill("#class-name", "tabby")
    page.locator("#class-name").dispatch_event("change")
    expect(page.locator("#class-chip")).to_be_visible()
    picture = page.locator("#class-tile")
    expect(picture).to_be_visible(timeout=90_000)
    expect(picture).to_have_attribute("alt", "What efficientnet_lite0 dreams for tabby")
    assert page.evaluate("document.getElementById('class-tile').naturalWidth") == 128
    page.locator("#class-chip-remove").click()
    expect(picture).to_be_hidden()

    page.locator('label.look:has(input[value="textures"])').click()
    page.locator("#picker summary").click()
    expect(page.locator("#picker-layer")).to_have_value("blocks.7")  # the look's deepest layer


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_picker_fits_a_phone(browser, server: Server, scheme: str) -> None:
    from playwright.sync_api import expect

    page = open_page(browser, server, width=390, height=844, color_scheme=scheme)
    try:
        page.locator("#picker summary").click()
        page.select_option("#picker-layer", LAYER)
        tiles = page.locator("#picker-tiles .tile")
        expect(tiles).to_have_count(16, timeout=30_000)
        time.sleep(0.5)
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        box = tiles.nth(0).bounding_box()
        assert box is not None and box["width"] >= 80  # three to a row, each big enough to tap
        background = page.evaluate("getComputedStyle(document.documentElement).backgroundColor")
        assert background == {"light": "rgb(246, 244, 251)", "dark": "rgb(21, 19, 27)"}[scheme]
    finally:
        page.close()
