"""The task layer: one place that checks a job, one that runs it, and the same pixels from every front end.

A progress callback once changed the picture (the render loop overwrote the photo in its progress
branch), and every pixel test ran without one. The comparisons here take the paths users take by
default (progress shown, a web job, a sheet panel, --settings-from) and compare them pixel for pixel.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from reverie import Dreamer, dream, load_image
from reverie.cli import main
from reverie.errors import (
    ImageError,
    OutputPathError,
    PixelLimitError,
    SettingsError,
    UnknownLayerError,
    UnknownModelError,
    VideoError,
    WeightsNotFoundError,
)
from reverie.io.images import Picture, to_uint8
from reverie.models import get_spec
from reverie.settings import DreamSettings, VideoSettings, ZoomSettings
from reverie.tasks import (
    DreamTask,
    NoiseCanvas,
    SheetTask,
    VideoTask,
    ZoomTask,
    task_from_json,
)
from reverie.tensors import resize_picture
from reverie.web import WebConfig, create_app
from reverie.weights import find_weights

#: Three octaves: the overwritten photo only showed from the second octave on.
SETTINGS = {"layers": "blocks.8", "steps": 3, "octaves": 3, "max_side": 128, "seed": 3, "step_size": 0.02}
CLI_ARGS = [text for name, value in SETTINGS.items() for text in (f"--{name.replace('_', '-')}", str(value))]
#: The web form's fields are the settings' own names.
WEB_FIELDS = {name: str(value) for name, value in SETTINGS.items()}
#: One step in 8 bits.
TOLERANCE = 1
QUICK = DreamSettings(steps=1, octaves=1, max_side=64)
LITE0_WEIGHTS = find_weights(get_spec("efficientnet_lite0"))


@pytest.fixture(scope="module")
def dreamer() -> Dreamer:
    return Dreamer(device="cpu")


def pixels(path: Path) -> np.ndarray:
    return to_uint8(load_image(path).rgb).astype(int)


def assert_same_pixels(a: np.ndarray, b: np.ndarray) -> None:
    assert a.shape == b.shape
    assert np.abs(a - b).max() <= TOLERANCE


# --------------------------------------------------------------------- the same pixels everywhere


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
    cli_results: dict[str, Path], chelsea_path: Path, dreamer: Dreamer
) -> None:
    events = []
    watched = dream(chelsea_path, dreamer=dreamer, progress=events.append, **SETTINGS).picture.rgb
    unwatched = dream(chelsea_path, dreamer=dreamer, **SETTINGS).picture.rgb
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


# ------------------------------------------------------------------------------------- checking


def test_check_resolves_the_model_preset_and_paths(chelsea_path: Path, coffee_path: Path, tmp_path) -> None:
    task = DreamTask(chelsea_path, tmp_path / "out.png", settings=DreamSettings(guide=str(coffee_path)))
    checked = task.check()
    assert checked.checked and not task.checked
    assert checked.settings.model == "efficientnet_lite0" and checked.settings.layers == "blocks.8,blocks.11"
    assert checked.settings.preset == ""  # what was asked for is kept; the layers say what it meant
    assert Path(checked.settings.guide).is_absolute() and Path(checked.output).is_absolute()
    objects = DreamTask(chelsea_path, settings=DreamSettings(preset="objects")).check()
    assert objects.settings.layers == "blocks.12,blocks.14"
    assert (
        DreamTask(chelsea_path, settings=DreamSettings(layers="blocks.3")).check().settings.layers
        == "blocks.3"
    )


def bad_tasks(tmp: Path, photo: Path) -> list[tuple[object, type[Exception], str]]:
    """(task, error type, message fragment) for every kind of mistake check() must catch."""
    (tmp / "text.png").write_text("not an image")
    out = tmp / "out.png"
    settings = DreamSettings
    return [
        (DreamTask(tmp / "missing.png", out), ImageError, "not found"),
        (DreamTask(tmp / "text.png", out), ImageError, "not an image"),
        (DreamTask(photo, out, max_pixels=1000), PixelLimitError, "raise the limit with max_pixels 135300"),
        (DreamTask(photo, out, max_pixels=0), SettingsError, "max_pixels must be between 1 and"),
        (DreamTask(photo, tmp / "out.doc"), ImageError, "not a supported image format"),
        (DreamTask(photo, tmp / "no" / "out.png"), OutputPathError, "does not exist"),
        (DreamTask(photo, photo), OutputPathError, "overwrite the input"),
        (
            DreamTask(photo, tmp / "text.png", settings=settings(mask=str(tmp / "text.png"))),
            ImageError,
            "mask",
        ),
        (DreamTask(photo, out, settings=settings(model="alexnet")), UnknownModelError, "valid models"),
        (DreamTask(photo, out, settings=settings(layers="mixed3")), UnknownLayerError, "valid layers"),
        (DreamTask(photo, out, settings=settings(layers="blocks.8:500")), UnknownLayerError, "0..111"),
        (
            DreamTask(photo, out, settings=settings(preset="fancy", layers="blocks.3")),
            SettingsError,
            "preset",
        ),
        (
            DreamTask(photo, out, settings=settings(layers="guide:blocks.9")),
            SettingsError,
            "need a guide image: set guide",
        ),
        (DreamTask(photo, out, settings=settings(guide=str(tmp / "none.png"))), ImageError, "not found"),
        (DreamTask(photo, out, settings=settings(steps=0)), SettingsError, "steps"),
        (DreamTask(photo, out, settings=settings(model="vgg16")), WeightsNotFoundError, "vgg16-397923af.pth"),
        (DreamTask(photo, out, weights=str(tmp / "none.pth")), WeightsNotFoundError, "not found"),
        (DreamTask(photo, out, device="tpu"), SettingsError, "unknown device"),
        (DreamTask(NoiseCanvas(0, 10), out), SettingsError, "size must be between 1 and 16384 px per side"),
        (DreamTask(np.zeros((8, 8)), out), ImageError, "shape"),
        (DreamTask(np.full((8, 8, 3), 255, np.uint8), out), ImageError, "[0, 1]"),
        (SheetTask(photo, out, ("blocks.3", "mixed3")), UnknownLayerError, "mixed3"),
        (SheetTask(photo, out, columns=0), SettingsError, "columns must be between 1 and 20; got 0"),
        (ZoomTask(photo, tmp / "z.png"), VideoError, "not an animation format"),
        (ZoomTask(photo, tmp / "z.gif", ZoomSettings(frames=5000)), SettingsError, ".mp4"),
        (
            ZoomTask(photo, tmp / "z.gif", ZoomSettings(zoom=400)),
            SettingsError,
            "zoom must be between -50 and 100 %",
        ),
        (VideoTask(tmp / "none.mp4", tmp / "v.mp4"), VideoError, "video not found"),
        (VideoTask(tmp / "text.png", tmp / "v.mp4"), VideoError, "not a readable video"),
        (VideoTask(photo, tmp / "v.gif"), VideoError, ".mp4"),
        (
            VideoTask(photo, tmp / "v.mp4", VideoSettings(blend=2)),
            SettingsError,
            "blend must be between 0 and 0.95",
        ),
        (VideoTask(NoiseCanvas(8, 8), tmp / "v.mp4"), SettingsError, "file path"),  # type: ignore[arg-type]
        (VideoTask(photo, None), SettingsError, "file path"),  # type: ignore[arg-type]
        (ZoomTask(photo, tmp / "z.mp4", settings=settings(max_side=1)), VideoError, "too small to encode"),
        (
            DreamTask(NoiseCanvas(1000, 1000), out, max_pixels=5000),
            SettingsError,
            "is more than max_pixels 5000",
        ),
        (DreamTask(7, out), SettingsError, "a source must be"),  # type: ignore[arg-type]
        (SheetTask(photo, out, None), SettingsError, "terms"),  # type: ignore[arg-type]
        (SheetTask(photo, out, "blocks.4"), SettingsError, "terms"),  # type: ignore[arg-type]
        (SheetTask(photo, out, settings=settings(layers=5)), SettingsError, "layers must be text"),  # type: ignore[arg-type]
    ]


def test_check_catches_every_mistake_before_any_model_loads(
    tmp_path: Path, chelsea_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.delenv("REVERIE_WEIGHTS_DIR", raising=False)
    monkeypatch.setattr("reverie.dreamer.load_model", lambda *a, **k: pytest.fail("a model was loaded"))
    monkeypatch.setattr("reverie.models.registry.ModelSpec.build", lambda self: pytest.fail("built"))
    photo = tmp_path / "photo.png"
    photo.write_bytes(chelsea_path.read_bytes())
    for task, error, fragment in bad_tasks(tmp_path, photo):
        with pytest.raises(error) as caught:
            task.check()
        assert fragment in str(caught.value) and "\n" not in str(caught.value), (task, caught.value)
    assert photo.read_bytes() == chelsea_path.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.png", "text.png"]


def test_run_checks_an_unchecked_task_and_a_checked_one_only_once(
    chelsea_path: Path, dreamer: Dreamer, monkeypatch
) -> None:
    with pytest.raises(UnknownLayerError):
        DreamTask(chelsea_path, settings=QUICK.with_changes(layers="mixed3")).run(dreamer)
    checked = DreamTask(chelsea_path, settings=QUICK).check()
    monkeypatch.setattr(DreamTask, "check", lambda self: pytest.fail("checked twice"))
    assert checked.run(dreamer).picture.size == (64, 43)


def test_a_dreamer_that_holds_another_model_or_weights_is_refused(
    small_cat: Picture, dreamer: Dreamer, tmp_path: Path
) -> None:
    task = DreamTask(small_cat, settings=QUICK.with_changes(model="efficientnet_lite1"))
    with pytest.raises(SettingsError, match="this Dreamer holds efficientnet_lite0"):
        task.run(dreamer)
    copy = tmp_path / "lite0-copy.pth"
    copy.write_bytes(LITE0_WEIGHTS.read_bytes())
    with pytest.raises(SettingsError, match="asks for weights"):
        DreamTask(small_cat, settings=QUICK, weights=str(copy)).run(dreamer)
    assert DreamTask(small_cat, settings=QUICK, weights=str(LITE0_WEIGHTS)).run(dreamer).picture.size == (
        64,
        43,
    )


def test_a_noise_canvas_takes_the_dreams_seed_unless_it_has_its_own(dreamer: Dreamer, tmp_path: Path) -> None:
    task = DreamTask(NoiseCanvas(64, 48), settings=QUICK.with_changes(seed=5)).check()
    assert task.source == NoiseCanvas(64, 48, seed=5)
    own = DreamTask(NoiseCanvas(64, 48, seed=2), settings=QUICK.with_changes(seed=5)).check()
    assert own.source.seed == 2
    args = ["dream", "--from-noise", "--size", "64x48", "--seed", "5", "--steps", "1", "--octaves", "1", "-q"]
    assert main([*args, "-o", str(tmp_path / "cli.png")]) == 0  # the CLI and the API: one canvas
    api = to_uint8(task.run(dreamer).picture.rgb).astype(int)
    assert_same_pixels(api, pixels(tmp_path / "cli.png"))


def test_outputs_never_overwrite_the_input_guide_or_mask(
    tmp_path: Path, chelsea_path: Path, coffee_path: Path, dreamer: Dreamer
) -> None:
    photo, guide_file, mask_file = tmp_path / "photo.png", tmp_path / "guide.png", tmp_path / "mask.png"
    photo.write_bytes(chelsea_path.read_bytes())
    guide_file.write_bytes(coffee_path.read_bytes())
    Image.new("L", (40, 30), 255).save(mask_file)
    settings = QUICK.with_changes(guide=str(guide_file), mask=str(mask_file))
    for target in (photo, guide_file, mask_file, tmp_path / "." / "photo.png"):
        with pytest.raises(OutputPathError, match="overwrite the input"):
            DreamTask(photo, target, settings=settings).check()
    with pytest.raises(OutputPathError):
        DreamTask(load_image(photo), photo, settings=QUICK).run(dreamer)  # a picture remembers its file
    assert photo.read_bytes() == chelsea_path.read_bytes()


def test_a_picture_smaller_than_the_network_dreams_at_its_own_size(dreamer: Dreamer, small_cat) -> None:
    icon = resize_picture(small_cat, (16, 16))  # the network needs 32 px per side
    result = dream(icon, dreamer=dreamer, steps=3, octaves=1, step_size=0.05).picture
    assert result.size == (16, 16)
    assert np.abs(result.rgb - icon.rgb).mean() > 0.01
    thin = dream(resize_picture(small_cat, (120, 8)), dreamer=dreamer, steps=1, octaves=2).picture
    assert thin.size == (120, 8)


# ------------------------------------------------------------------------------------------ JSON


def test_every_kind_of_task_survives_a_json_round_trip(tmp_path: Path, chelsea_path: Path, pan_video) -> None:
    settings = DreamSettings(layers="blocks.6:3+5=2", seed=9, tv_weight=0.5, keep_colors=True)
    tasks = [
        DreamTask(chelsea_path, tmp_path / "a.png", settings=settings, device="cpu", max_pixels=234_567),
        DreamTask(NoiseCanvas(96, 64, seed=4), None, settings=settings, weights=str(LITE0_WEIGHTS)),
        SheetTask(chelsea_path, tmp_path / "s.png", ("blocks.3", "class:tabby"), columns=2),
        ZoomTask(chelsea_path, tmp_path / "z.gif", ZoomSettings(frames=3, zoom=-1.5, fps=8)),
        VideoTask(pan_video, tmp_path / "v.mp4", VideoSettings(blend=0.25, flow=False), keep_frames=True),
    ]
    for task in tasks:
        again = task_from_json(task.to_json())
        assert type(again) is type(task)
        assert again.to_dict() == task.to_dict()
        checked = task.check()
        assert task_from_json(checked.to_json()) == checked  # a checked task's paths are absolute
        assert task_from_json(checked.to_json()).check() == checked
    assert task_from_json(tasks[1].to_json()).source == NoiseCanvas(96, 64, seed=4)


def test_tasks_that_cannot_travel_or_malformed_json_are_settings_errors(small_cat: Picture) -> None:
    with pytest.raises(SettingsError, match="in memory"):
        DreamTask(small_cat).to_json()
    for text in (
        "nope",
        "[]",
        '{"kind": "paint"}',
        '{"kind": "dream"}',
        '{"kind": "dream", "source": 3}',
        '{"kind": "dream", "source": "a.png", "ouput": "b.png"}',
        '{"kind": "video", "source": "a.mp4"}',
    ):
        with pytest.raises(SettingsError):
            task_from_json(text)
    with pytest.raises(SettingsError, match="steps must be a whole number"):
        task_from_json('{"kind": "dream", "source": "a.png", "settings": {"steps": "many"}}')
    with pytest.raises(SettingsError, match="width must be a whole number"):
        task_from_json('{"kind": "dream", "source": {"noise": {"width": "wide"}}}').check()


# ------------------------------------------------------------------------------- sheets and zooms


def test_a_sheet_defaults_to_five_layers_spread_from_shallow_to_deep(chelsea_path: Path) -> None:
    checked = SheetTask(chelsea_path).check()
    assert checked.terms == ("blocks.0", "blocks.4", "blocks.8", "blocks.12", "head")
    assert checked.settings.layers == ",".join(checked.terms)
    assert SheetTask(chelsea_path, settings=DreamSettings(layers="blocks.2, blocks.5")).check().terms == (
        "blocks.2",
        "blocks.5",
    )


def test_a_zoom_hands_out_frames_without_an_output(small_cat: Picture, dreamer: Dreamer) -> None:
    task = ZoomTask(small_cat, motion=ZoomSettings(frames=3), settings=QUICK)
    seen = []
    frames = list(task.frames(dreamer, lambda done, total: seen.append((done, total))))
    assert len(frames) == 3 and frames[0].shape == (43, 64, 3) and seen == [(1, 3), (2, 3), (3, 3)]
    with pytest.raises(SettingsError, match="output"):
        task.run(dreamer)
