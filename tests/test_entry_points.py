"""The same settings give the same pixels from every entry point, watched or not.

A progress callback once changed the picture (the render loop overwrote the photo in its progress
branch), and every pixel test ran without one. These tests take the paths users take by default
(progress shown, a web job, a sheet panel) and compare them pixel for pixel.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from reverie import Dreamer, load_image
from reverie.cli import main
from reverie.imaging import resize_picture, to_uint8
from reverie.web import WebConfig, create_app

#: Two octaves at least: the overwritten photo only showed from the second octave on.
SETTINGS = {"layers": "blocks.8", "steps": 3, "octaves": 3, "max_side": 128, "seed": 3, "step_size": 0.02}
CLI_ARGS = [text for name, value in SETTINGS.items() for text in (f"--{name.replace('_', '-')}", str(value))]
#: The web form calls the step size "strength".
WEB_FIELDS = {("strength" if name == "step_size" else name): str(value) for name, value in SETTINGS.items()}
#: One step in 8 bits.
TOLERANCE = 1


def pixels(path: Path) -> np.ndarray:
    return to_uint8(load_image(path).rgb).astype(int)


def assert_same_pixels(a: np.ndarray, b: np.ndarray) -> None:
    assert a.shape == b.shape
    assert np.abs(a - b).max() <= TOLERANCE


@pytest.fixture(scope="module")
def cli_results(tmp_path_factory, chelsea_path: Path) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("entry")
    quiet, shown = folder / "quiet.png", folder / "shown.png"
    assert main(["dream", str(chelsea_path), "-o", str(quiet), *CLI_ARGS, "--quiet"]) == 0
    assert main(["dream", str(chelsea_path), "-o", str(shown), *CLI_ARGS]) == 0
    return {"quiet": quiet, "shown": shown}


def test_showing_progress_does_not_change_the_picture(cli_results: dict[str, Path], chelsea_path) -> None:
    quiet, shown = pixels(cli_results["quiet"]), pixels(cli_results["shown"])
    assert_same_pixels(quiet, shown)
    photo = to_uint8(resize_picture(load_image(chelsea_path), (128, 85)).rgb).astype(int)
    assert np.abs(quiet - photo).mean() > 2  # it is a dream, not the photo


def test_settings_from_reproduces_a_watched_dream(
    cli_results: dict[str, Path], chelsea_path: Path, tmp_path: Path
) -> None:
    again = tmp_path / "again.png"
    args = ["dream", str(chelsea_path), "-o", str(again), "--settings-from", str(cli_results["shown"])]
    assert main(args) == 0
    assert_same_pixels(pixels(again), pixels(cli_results["quiet"]))


def test_the_api_with_and_without_a_callback_matches_the_cli(
    cli_results: dict[str, Path], chelsea_path: Path
) -> None:
    dreamer = Dreamer(device="cpu")
    events = []
    watched = dreamer.dream(chelsea_path, progress=events.append, **SETTINGS).picture.rgb
    unwatched = dreamer.dream(chelsea_path, **SETTINGS).picture.rgb
    assert len(events) == 3 * 3
    assert np.array_equal(watched, unwatched)
    assert_same_pixels(to_uint8(watched).astype(int), pixels(cli_results["quiet"]))


def test_a_web_job_matches_the_cli(cli_results: dict[str, Path], chelsea_path: Path, tmp_path: Path) -> None:
    app = create_app(WebConfig(tmp_path, device="cpu"))
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        files = {"image": ("cat.png", chelsea_path.read_bytes(), "image/png")}
        job = client.post("/api/jobs", files=files, data=WEB_FIELDS).json()
        deadline = time.monotonic() + 120
        while (status := client.get(f"/api/jobs/{job['id']}").json()["status"]) in ("queued", "running"):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert status == "done"
        result = tmp_path / "web.png"
        result.write_bytes(client.get(f"/api/jobs/{job['id']}/result").content)
    assert_same_pixels(pixels(result), pixels(cli_results["quiet"]))


def test_a_sheet_panel_matches_the_dream_of_its_layer(
    cli_results: dict[str, Path], chelsea_path: Path, tmp_path: Path
) -> None:
    sheet = tmp_path / "sheet.png"
    assert main(["sheet", str(chelsea_path), "-o", str(sheet), *CLI_ARGS]) == 0
    dream = pixels(cli_results["quiet"])
    height, width = dream.shape[:2]
    panel = pixels(sheet)[:height, width : 2 * width]  # the photo first, then the blocks.8 panel
    below_label = slice(20, None)  # the label strip covers the panel's top-left corner
    assert_same_pixels(panel[below_label], dream[below_label])
