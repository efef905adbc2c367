"""The engine and the Python API: Dreamer, PreparedDream and dream(), on the real model and photos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import reverie
from reverie import Dreamer, DreamSettings, ImageError, Picture, SettingsError, dream, read_settings
from reverie.colour import luma
from reverie.objectives import GuideTerm
from reverie.tasks import check_settings
from reverie.tensors import resize_picture, to_tensor

QUICK = {"steps": 2, "octaves": 2, "max_side": 96}
#: Enough steps that an objective visibly rises.
WORKING = {"steps": 4, "octaves": 2, "max_side": 128}


@pytest.fixture(scope="module")
def dreamer() -> Dreamer:
    return Dreamer(device="cpu")


def test_dream_function_writes_a_file_with_its_recipe(chelsea_path: Path, tmp_path: Path) -> None:
    output = tmp_path / "d.webp"
    result = dream(chelsea_path, output, layers="blocks.9", seed=5, device="cpu", **QUICK)
    assert read_settings(output) == result.settings
    assert result.settings.layers == "blocks.9" and result.settings.seed == 5
    saved = np.asarray(Image.open(output).convert("RGB"), np.float32) / 255
    assert np.abs(saved - result.picture.rgb).mean() < 0.02  # the file holds the dream (lossy WebP)


def test_dream_function_checks_before_loading(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(Dreamer, "__init__", lambda *a, **k: pytest.fail("a model was loaded"))
    with pytest.raises(ImageError, match="not found"):
        dream(tmp_path / "none.png", tmp_path / "out.png")


def test_dreamer_accepts_paths_pictures_and_arrays(dreamer: Dreamer, chelsea_path: Path) -> None:
    from_path = dream(chelsea_path, dreamer=dreamer, **QUICK).picture
    from_picture = dream(reverie.load_image(chelsea_path), dreamer=dreamer, **QUICK).picture
    from_array = dream(reverie.load_image(chelsea_path).rgb, dreamer=dreamer, **QUICK).picture
    assert np.array_equal(from_path.rgb, from_picture.rgb) and np.array_equal(
        from_picture.rgb, from_array.rgb
    )
    assert from_picture.size == (96, 64)  # reduced to max_side 96


def test_dream_file_writes_what_dream_returns(dreamer: Dreamer, small_cat: Picture, tmp_path: Path) -> None:
    output = tmp_path / "out.png"
    written = dream(small_cat, output, settings=DreamSettings(**QUICK), dreamer=dreamer, seed=2)
    assert np.allclose(reverie.load_image(output).rgb, written.picture.rgb, atol=0.5 / 255 + 1e-6)
    assert read_settings(output).seed == 2
    with pytest.raises(reverie.PixelLimitError, match="raise the limit with max_pixels"):
        dream(output, tmp_path / "no.png", dreamer=dreamer, max_pixels=1000)  # the result is 96x64
    assert not (tmp_path / "no.png").exists()


def test_a_result_saves_itself_and_becomes_a_pillow_image(
    dreamer: Dreamer, small_cat: Picture, tmp_path: Path
) -> None:
    result = dream(small_cat, settings=DreamSettings(**QUICK), dreamer=dreamer, seed=4)
    written = result.save(tmp_path / "kept.webp")
    assert written == tmp_path / "kept.webp" and read_settings(written) == result.settings
    image = result.to_pil()
    assert image.mode == "RGB" and image.size == result.picture.size
    assert np.array_equal(np.asarray(image), np.asarray(Image.open(result.save(tmp_path / "kept.png"))))
    alpha = np.ones((small_cat.height, small_cat.width), np.float32)
    assert dream(Picture(small_cat.rgb, alpha), dreamer=dreamer, **QUICK).to_pil().mode == "RGBA"


def test_alpha_is_carried_through(dreamer: Dreamer, small_cat: Picture) -> None:
    alpha = np.tile(np.linspace(0, 1, small_cat.width, dtype=np.float32), (small_cat.height, 1))
    result = dream(Picture(small_cat.rgb, alpha), dreamer=dreamer, **QUICK).picture
    assert result.alpha is not None
    assert np.allclose(result.alpha, resize_picture(Picture(small_cat.rgb, alpha), (96, 64)).alpha)


def test_settings_without_a_model_follow_the_dreamers_model(small_cat: Picture) -> None:
    result = dream(
        small_cat,
        settings=DreamSettings(steps=1, octaves=1),
        dreamer=Dreamer("efficientnet_lite1", device="cpu"),
    )
    assert result.settings.model == "efficientnet_lite1" and result.settings.layers == "blocks.11,blocks.15"


def test_mistakes_get_library_errors(dreamer: Dreamer, small_cat: Picture) -> None:
    with pytest.raises(SettingsError, match="unknown setting"):
        dream(small_cat, dreamer=dreamer, stepz=3)
    with pytest.raises(SettingsError, match="holds efficientnet_lite0"):
        dream(small_cat, settings=DreamSettings(model="efficientnet_lite1"), dreamer=dreamer)
    with pytest.raises(SettingsError, match="unknown preset"):
        dream(small_cat, dreamer=dreamer, preset="nope", layers="blocks.3", steps=1, octaves=1)
    with pytest.raises(ImageError, match="shape"):
        dream(np.zeros((10, 10), dtype=np.float32), dreamer=dreamer)
    with pytest.raises(ImageError, match=r"\[0, 1\]"):
        dream((small_cat.rgb * 255).astype(np.uint8), dreamer=dreamer)


def test_the_readme_api_example_runs(chelsea_path: Path, tmp_path: Path) -> None:
    """The task calls the README shows, end to end."""
    from reverie import DreamTask, NoiseCanvas, SheetTask, ZoomSettings, ZoomTask, task_from_json

    quick = DreamSettings(preset="objects", steps=1, octaves=1, max_side=64)
    task = DreamTask(chelsea_path, tmp_path / "dream.png", settings=quick).check()
    result = task.run(task.new_dreamer())
    assert (
        read_settings(tmp_path / "dream.png") == result.settings
        and result.settings.layers == "blocks.12,blocks.14"
    )
    assert task_from_json(task.to_json()) == task
    dreamer = Dreamer(device="cpu")
    canvas = DreamTask(
        NoiseCanvas(64, 48), tmp_path / "c.png", settings=quick.with_changes(layers="blocks.11:37")
    )
    assert canvas.run(dreamer).picture.size == (64, 48)
    sheet = SheetTask(chelsea_path, tmp_path / "s.png", ("blocks.4", "class:tabby"), settings=quick).run(
        dreamer
    )
    assert sheet.picture.size == (3 * 64, 43)
    frames = list(ZoomTask(chelsea_path, motion=ZoomSettings(frames=2), settings=quick).frames(dreamer))
    assert len(frames) == 2 and frames[0].shape == (43, 64, 3)
    assert reverie.list_models()[0] == "efficientnet_lite0"


# ------------------------------------------------------------------------------------ objectives


def logit(dreamer: Dreamer, picture: Picture, index: int) -> float:
    with torch.no_grad():
        return float(dreamer.model.classify(to_tensor(picture.rgb))[0, index])


def test_class_objective_raises_its_logit(dreamer: Dreamer, small_cat: Picture) -> None:
    result = dream(small_cat, dreamer=dreamer, layers="class:espresso", **WORKING).picture
    assert logit(dreamer, result, 967) > logit(dreamer, small_cat, 967) + 1.0


def test_guided_dream_moves_towards_the_guide(
    dreamer: Dreamer, small_cat: Picture, coffee_path: Path
) -> None:
    guided = {**WORKING, "max_side": 0, "layers": "guide:blocks.9", "guide": str(coffee_path)}
    prepared = dreamer.prepare(check_settings(DreamSettings(**guided)))
    objective = prepared.objective
    assert isinstance(objective.terms[0], GuideTerm) and objective.terms[0].features is not None
    result = dream(small_cat, dreamer=dreamer, **guided).picture
    plain = dream(small_cat, dreamer=dreamer, **{**guided, "layers": "blocks.9", "guide": ""}).picture

    def match(picture: Picture) -> float:
        with torch.no_grad():
            return float(objective(dreamer.model(to_tensor(picture.rgb), objective.layers)))

    assert match(result) > match(small_cat) + 1.0
    assert match(result) > match(plain)


def test_guide_alone_turns_every_layer_into_a_guide_term(dreamer: Dreamer, coffee_path: Path) -> None:
    settings = check_settings(DreamSettings(layers="blocks.5,blocks.9", guide=str(coffee_path)))
    objective = dreamer.prepare(settings).objective
    assert [type(term) for term in objective.terms] == [GuideTerm, GuideTerm]
    assert [term.features.shape[0] for term in objective.terms] == [80, 112]  # the layers' channels


def test_a_small_guide_image_is_read_enlarged(dreamer: Dreamer, small_cat: Picture, tmp_path: Path) -> None:
    tiny = tmp_path / "tiny.png"
    Image.new("RGB", (12, 12), (200, 30, 30)).save(tiny)
    result = dream(small_cat, dreamer=dreamer, layers="guide:blocks.9", guide=str(tiny), steps=1, octaves=1)
    assert result.picture.size == small_cat.size


@pytest.mark.parametrize("watched", [False, True], ids=["unwatched", "watched"])
def test_mask_leaves_black_pixels_unchanged(
    dreamer: Dreamer, small_cat: Picture, tmp_path: Path, watched: bool
) -> None:
    mask = np.zeros((80, 120), np.uint8)
    mask[:, 60:] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    events = []
    result = dream(
        small_cat,
        dreamer=dreamer,
        progress=events.append if watched else None,
        mask=str(tmp_path / "mask.png"),
        **WORKING,
    ).picture
    change = np.abs(result.rgb - small_cat.rgb).mean(axis=2)
    assert change[:, :45].max() == 0.0  # black, beyond the feathered edge: untouched
    assert change[:, 75:].mean() > 0.01  # white: dreamed
    assert bool(events) == watched


def test_keep_colors_keeps_chroma_and_changes_luma(dreamer: Dreamer, small_cat: Picture) -> None:
    plain = dream(small_cat, dreamer=dreamer, **{**WORKING, "max_side": 0}).picture.rgb
    kept = dream(small_cat, dreamer=dreamer, keep_colors=True, **{**WORKING, "max_side": 0}).picture.rgb

    def chroma(rgb: np.ndarray) -> np.ndarray:
        return rgb - luma(rgb)[..., None]

    original = small_cat.rgb
    assert (
        np.abs(chroma(kept) - chroma(original)).mean() < 0.5 * np.abs(chroma(plain) - chroma(original)).mean()
    )
    assert np.abs(luma(kept) - luma(original)).mean() > 0.01


def test_a_prepared_dream_binds_the_guide_once(dreamer: Dreamer, small_cat, coffee_path, monkeypatch) -> None:
    settings = check_settings(DreamSettings(steps=1, octaves=1, max_side=64, guide=str(coffee_path)))
    prepared = dreamer.prepare(settings)
    monkeypatch.setattr(dreamer, "guide_features", lambda *a: pytest.fail("guide read again"))
    first = prepared.dream(small_cat, seed=1).rgb
    second = prepared.dream(small_cat, seed=2).rgb
    assert not np.array_equal(first, second)  # each frame its own seed


def test_guide_and_mask_are_read_within_the_tasks_pixel_limit(
    dreamer: Dreamer, small_cat: Picture, coffee_path: Path, tmp_path: Path, monkeypatch
) -> None:
    from reverie import dreamer as dreamer_module
    from reverie import masks
    from reverie.tasks import DreamTask

    Image.new("L", (40, 30), 255).save(tmp_path / "mask.png")
    limits = []

    def spy(real):
        def load(path, max_pixels, *reduced_to):
            limits.append(max_pixels)
            return real(path, max_pixels, *reduced_to)

        return load

    monkeypatch.setattr(dreamer_module, "load_image", spy(dreamer_module.load_image))
    monkeypatch.setattr(masks, "load_image", spy(masks.load_image))
    mask = str(tmp_path / "mask.png")
    settings = DreamSettings(steps=1, octaves=1, max_side=64, guide=str(coffee_path), mask=mask)
    DreamTask(small_cat, settings=settings, max_pixels=250_000_000).run(dreamer)
    assert limits == [250_000_000, 250_000_000]  # the guide, then the mask
