"""``--param fft``: the spectrum and its colour matrix, the random views, and dreams from noise that
come out smoother than pixel-space ones at a comparable objective."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from reverie import Dreamer, NoiseCanvas, dream
from reverie.errors import SettingsError
from reverie.io.images import load_image, noise_picture
from reverie.objectives import parse_layer_spec
from reverie.params import COLOUR_SQRT, FourierPicture, pink_noise, random_view, spectrum_weight
from reverie.recipe import read_settings
from reverie.render import tiled_gradient, viewed_gradient
from reverie.samples import SAMPLES, sample_path
from reverie.settings import DreamSettings
from reverie.tasks import DreamTask


def high_frequency_share(rgb: np.ndarray) -> float:
    """The share of a picture's (luma's) spectral energy above half the Nyquist frequency."""
    grey = rgb.mean(axis=2) - rgb.mean()
    power = np.abs(np.fft.fft2(grey)) ** 2
    rows, columns = np.fft.fftfreq(grey.shape[0])[:, None], np.fft.fftfreq(grey.shape[1])[None, :]
    return float(power[np.sqrt(rows**2 + columns**2) > 0.25].sum() / power.sum())


def test_the_colour_matrix_is_the_square_root_of_the_samples_colour_covariance() -> None:
    pixels = np.concatenate([load_image(sample_path(name)).rgb.reshape(-1, 3) for name in SAMPLES])
    left, values, _ = np.linalg.svd(np.cov(pixels.T))
    root = left * np.sqrt(values)
    root = root / np.linalg.norm(root, axis=0).max()
    root *= np.sign(root[0])  # each column's sign is the SVD's choice
    assert np.allclose(root, COLOUR_SQRT.numpy() * np.sign(COLOUR_SQRT.numpy()[0]), atol=2e-3)


def test_the_spectrum_weight_falls_as_one_over_frequency() -> None:
    weight = spectrum_weight(64, 48)
    assert weight.shape == (64, 25)
    assert weight[0, 0] == weight[1, 0] == 64  # the lowest frequencies capped at the longer side
    assert weight[0, 1] == pytest.approx(48)  # one cycle across 48 px
    assert weight[0, 8].item() == pytest.approx(48 / 8)  # 8 cycles across 48 px: 1 / (8/48)


def test_a_picture_and_its_spectrum_give_each_other_back(small_cat) -> None:
    rgb = torch.from_numpy(small_cat.rgb).permute(2, 0, 1)[None].clamp(0.01, 0.99)
    again = FourierPicture.from_picture(rgb).image()
    assert again.shape == rgb.shape and (again - rgb).abs().max() < 1e-4


def test_a_random_view_is_a_small_scale_and_turn_that_gradients_pass_through(small_cat) -> None:
    rgb = torch.from_numpy(small_cat.rgb).permute(2, 0, 1)[None]
    picture = FourierPicture.from_picture(rgb)
    view = random_view(picture.image(), torch.Generator().manual_seed(3))
    assert view.shape == rgb.shape
    assert 0 < (view - rgb).abs().mean() < 0.1  # moved a little, not scrambled
    view.mean().backward()
    assert picture.coefficients.grad is not None and picture.coefficients.grad.abs().sum() > 0


def test_pink_noise_leaves_out_the_finest_frequencies() -> None:
    pink = pink_noise(96, 96, seed=1)[0].permute(1, 2, 0).numpy()
    white = noise_picture(96, 96, seed=1).rgb
    assert high_frequency_share(pink) < 0.3 < 0.7 < high_frequency_share(white)
    assert np.array_equal(pink, pink_noise(96, 96, seed=1)[0].permute(1, 2, 0).numpy())


@pytest.fixture(scope="module")
def dreamer() -> Dreamer:
    return Dreamer(device="cpu")


def losses_of(dreamer: Dreamer, param: str, seed: int = 0) -> tuple[np.ndarray, list[float]]:
    losses: list[float] = []
    settings = DreamSettings(layers="blocks.11:5", steps=10, octaves=2, seed=seed, param=param)
    task = DreamTask(NoiseCanvas(96, 96), settings=settings, device="cpu")
    result = task.run(dreamer, lambda event: losses.append(event.loss))
    return result.picture.rgb, losses


def test_a_dream_from_noise_in_fourier_space_is_smoother_at_a_comparable_objective(dreamer: Dreamer) -> None:
    fourier, fourier_losses = losses_of(dreamer, "fft")
    pixels, pixel_losses = losses_of(dreamer, "pixel")
    assert np.isfinite(fourier).all() and fourier.shape == (96, 96, 3)
    assert fourier_losses[-1] > fourier_losses[0]  # the objective rises
    assert len(fourier_losses) == 20  # steps x octaves, at one scale
    assert high_frequency_share(fourier) < 0.5 * high_frequency_share(pixels)
    assert fourier_losses[-1] > 0.5 * pixel_losses[-1]  # comparable: bench/PARAMS.md has the table
    again, _ = losses_of(dreamer, "fft")
    assert np.array_equal(fourier, again)  # the seed decides every random view
    assert not np.array_equal(fourier, losses_of(dreamer, "fft", seed=1)[0])


def test_auto_is_fft_from_noise_and_pixel_for_a_photo(
    tmp_path: Path, chelsea_path: Path, dreamer: Dreamer
) -> None:
    quick = DreamSettings(steps=1, octaves=1, max_side=96)
    noise = DreamTask(NoiseCanvas(64, 64), tmp_path / "noise.png", settings=quick, device="cpu").check()
    photo = DreamTask(chelsea_path, tmp_path / "photo.png", settings=quick, device="cpu").check()
    assert (noise.settings.param, photo.settings.param) == ("fft", "auto")
    noise.run(dreamer)
    assert read_settings(tmp_path / "noise.png").param == "fft"  # --settings-from dreams it again so
    auto = dream(chelsea_path, dreamer=dreamer, settings=quick).picture.rgb
    pixel = dream(chelsea_path, dreamer=dreamer, settings=quick.with_changes(param="pixel")).picture.rgb
    assert np.array_equal(auto, pixel)


def test_fft_with_a_mask_is_refused(tmp_path: Path, chelsea_path: Path) -> None:
    settings = DreamSettings(param="fft", mask=str(chelsea_path))
    with pytest.raises(SettingsError, match="fft dreams the whole picture anew"):
        DreamTask(chelsea_path, tmp_path / "out.png", settings=settings, device="cpu").check()


def test_a_viewed_gradient_is_the_chain_rule_through_the_view(dreamer: Dreamer, chelsea_path: Path) -> None:
    image = torch.from_numpy(load_image(chelsea_path).rgb[::4, ::4].copy()).permute(2, 0, 1)[None]
    image = image.contiguous()
    objective = parse_layer_spec("blocks.8")
    settings = DreamSettings()
    viewed, loss = viewed_gradient(
        dreamer.model, objective, image, 4096, settings, (0, 0), torch.Generator().manual_seed(3)
    )
    source = image.clone().requires_grad_(True)
    view = random_view(source, torch.Generator().manual_seed(3))
    expected = objective(dreamer.model(view, objective.layers))
    expected.backward()
    assert loss == pytest.approx(expected.item(), rel=1e-5)
    assert torch.allclose(viewed, source.grad, rtol=1e-3, atol=1e-6)
    assert not torch.allclose(viewed, tiled_gradient(dreamer.model, objective, image, 4096, 0.0)[0])


def test_transforms_all_on_a_photo_sees_it_scaled_and_turned_and_roll_is_the_default(
    tmp_path: Path, chelsea_path: Path, dreamer: Dreamer
) -> None:
    quick = DreamSettings(steps=3, octaves=2, max_side=128)
    plain = dream(chelsea_path, dreamer=dreamer, settings=quick).picture.rgb
    roll = dream(chelsea_path, dreamer=dreamer, settings=quick.with_changes(transforms="roll")).picture.rgb
    assert np.array_equal(plain, roll)  # auto in pixel space: the roll only, as before
    viewed = DreamTask(
        chelsea_path, tmp_path / "viewed.png", settings=quick.with_changes(transforms="all"), device="cpu"
    ).run(dreamer)
    assert not np.array_equal(viewed.picture.rgb, plain) and np.isfinite(viewed.picture.rgb).all()
    assert read_settings(tmp_path / "viewed.png").transforms == "all"
    again = dream(chelsea_path, dreamer=dreamer, settings=quick.with_changes(transforms="all")).picture.rgb
    assert np.array_equal(again, viewed.picture.rgb)  # the seed decides every view


def test_fft_with_the_roll_only_leaves_out_the_views(dreamer: Dreamer) -> None:
    settings = DreamSettings(layers="blocks.11:5", steps=3, octaves=1, param="fft")
    canvas = NoiseCanvas(64, 64)
    auto = DreamTask(canvas, settings=settings, device="cpu").run(dreamer).picture.rgb
    viewed = DreamTask(canvas, settings=settings.with_changes(transforms="all"), device="cpu").run(dreamer)
    rolled = DreamTask(canvas, settings=settings.with_changes(transforms="roll"), device="cpu").run(dreamer)
    assert np.array_equal(auto, viewed.picture.rgb)  # auto is all with fft
    assert not np.array_equal(auto, rolled.picture.rgb)
