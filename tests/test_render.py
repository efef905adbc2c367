"""The dream loop, piece by piece and as a whole, on the real model and the real cat photo."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from reverie.errors import DreamFailedError
from reverie.io.images import load_image
from reverie.models import get_spec
from reverie.objectives import parse_layer_spec
from reverie.render import (
    Progress,
    activation_bytes_per_pixel,
    auto_tile,
    laplacian_normalise,
    normalise_gradient,
    octave_sizes,
    offers_preview,
    region_gradient,
    render,
    tile_for,
    tile_grid,
    tile_margin,
    tile_spans,
    tiled_gradient,
    total_variation,
)
from reverie.settings import DreamSettings
from reverie.tensors import resize_picture, to_tensor

QUICK = DreamSettings(steps=3, octaves=2, layers="blocks.5,blocks.7", max_side=0)


def test_octave_sizes_shrink_by_the_scale_and_end_at_the_image_size() -> None:
    sizes = octave_sizes((1000, 500), octaves=3, scale=2.0, min_side=32)
    assert sizes == [(250, 125), (500, 250), (1000, 500)]


def test_octaves_too_small_for_the_network_are_skipped() -> None:
    sizes = octave_sizes((100, 60), octaves=4, scale=1.5, min_side=32)
    assert sizes == [(67, 40), (100, 60)]
    assert octave_sizes((20, 20), octaves=3, scale=2.0, min_side=32) == [(20, 20)]


def test_tiles_cover_the_image_once_with_near_equal_sizes() -> None:
    assert tile_spans(1000, 512) == [(0, 512), (512, 1000)]
    assert tile_spans(1500, 512) == [(0, 512), (512, 992), (992, 1500)]
    assert tile_spans(100, 512) == [(0, 100)]
    covered = torch.zeros(700, 1300)
    for rows, columns in tile_grid(700, 1300, 300):
        assert rows.stop - rows.start <= 300 + 32 and columns.stop - columns.start <= 300 + 32
        assert rows.start % 32 == 0 and columns.start % 32 == 0
        covered[rows, columns] += 1
    assert torch.equal(covered, torch.ones(700, 1300))


def high_frequency_share(image: torch.Tensor) -> float:
    """Share of an image's energy above the first pyramid level: high for fine detail."""
    from reverie.render import _blur_down

    low = F.interpolate(_blur_down(image), size=image.shape[-2:], mode="bilinear")
    return float((image - low).pow(2).sum() / image.pow(2).sum())


def test_std_normalisation_only_rescales_the_gradient() -> None:
    gradient = torch.randn(1, 3, 64, 96) * 7 + 1
    spread = gradient.std()
    normalised = normalise_gradient(gradient.clone())
    assert normalised.std().item() == pytest.approx(1.0, abs=1e-4)
    assert torch.allclose(normalised * spread, gradient, atol=1e-4)  # same direction, unit size


def test_laplacian_normalisation_evens_out_the_frequency_bands() -> None:
    """A gradient dominated by one coarse wave gets its fine detail lifted to a fair share."""
    rows = torch.linspace(0, 3.14, 64).view(1, 1, 64, 1)
    coarse = torch.sin(rows).expand(1, 3, 64, 96) * 10
    fine = torch.randn(1, 3, 64, 96, generator=torch.Generator().manual_seed(0)) * 0.1
    gradient = coarse + fine
    evened = laplacian_normalise(gradient)
    assert evened.shape == gradient.shape and evened.std().item() == pytest.approx(1.0, abs=1e-4)
    assert high_frequency_share(gradient) < 0.01
    assert high_frequency_share(evened) > 20 * high_frequency_share(gradient)
    assert float(F.cosine_similarity(evened.flatten(), gradient.flatten(), dim=0)) > 0.3  # still uphill


def test_total_variation_is_higher_for_noise() -> None:
    smooth = torch.linspace(0, 1, 64).repeat(1, 3, 64, 1)
    assert total_variation(torch.rand(1, 3, 64, 64)) > 10 * total_variation(smooth)


def test_tiled_gradient_matches_the_whole_image_gradient_away_from_seams(lite0, small_cat) -> None:
    image = to_tensor(small_cat.rgb)
    objective = parse_layer_spec("blocks.2")
    whole, whole_loss = tiled_gradient(lite0, objective, image, tile=512, tv_weight=0.0)
    tiled, tiled_loss = tiled_gradient(lite0, objective, image, tile=64, tv_weight=0.0)
    assert tiled_loss > 0 and whole_loss > 0
    # Far from the seams (x=60, y=40) the receptive field lies inside one tile: the values agree.
    far = (slice(None), slice(None), slice(0, 16), slice(0, 40))
    assert torch.allclose(whole[far], tiled[far], rtol=1e-3, atol=1e-6)


def test_the_objective_rises_during_a_dream(lite0, small_cat) -> None:
    objective = parse_layer_spec(QUICK.layers)
    image = to_tensor(small_cat.rgb)
    before = objective(lite0(image, objective.layers)).item()
    dreamed = render(lite0, objective, image, QUICK)
    after = objective(lite0(dreamed, objective.layers)).item()
    assert after > before + 0.5
    assert dreamed.shape == image.shape
    assert dreamed.min() >= 0 and dreamed.max() <= 1


def test_same_seed_same_pixels_other_seed_other_pixels(lite0, small_cat) -> None:
    objective = parse_layer_spec(QUICK.layers)
    image = to_tensor(small_cat.rgb)
    first = render(lite0, objective, image, QUICK)
    again = render(lite0, objective, image, QUICK)
    other = render(lite0, objective, image, QUICK.with_changes(seed=1))
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_tiled_and_untiled_dreams_agree_closely(lite0, chelsea_path) -> None:
    """Gradient ascent amplifies any difference step after step, so this compares two steps."""
    image = to_tensor(resize_picture(load_image(chelsea_path), (192, 128)).rgb)
    settings = QUICK.with_changes(jitter=16, octaves=1, steps=2)
    objective = parse_layer_spec(settings.layers)
    untiled = render(lite0, objective, image, settings.with_changes(tile_size=512))
    tiled = render(lite0, objective, image, settings.with_changes(tile_size=96))  # 2 x 2 tiles
    change = (untiled - image).abs().mean()
    assert (tiled - untiled).abs().mean() < 0.2 * change


def test_progress_reports_every_step_of_every_octave(lite0, small_cat) -> None:
    events: list[Progress] = []
    watched = render(lite0, parse_layer_spec("blocks.3"), to_tensor(small_cat.rgb), QUICK, events.append)
    assert torch.equal(watched, render(lite0, parse_layer_spec("blocks.3"), to_tensor(small_cat.rgb), QUICK))
    assert [(e.octave, e.step) for e in events] == [(1, 1), (1, 2), (1, 3), (2, 1), (2, 2), (2, 3)]
    assert events[-1].size == (120, 80) and events[-1].fraction == 1.0
    previews = [(e.octave, e.step, tuple(e.image.shape)) for e in events if e.image is not None]
    small = (1, 3, events[0].size[1], events[0].size[0])
    # Three steps an octave: each is its first, a quarter's or its last (offers_preview).
    assert previews == [(1, step, small) for step in (1, 2, 3)] + [
        (2, step, (1, 3, 80, 120)) for step in (1, 2, 3)
    ]


def test_previews_come_at_an_octaves_first_step_each_quarter_and_its_last() -> None:
    assert [step for step in range(1, 11) if offers_preview(step, 10)] == [1, 3, 6, 9, 10]
    assert [step for step in range(1, 201) if offers_preview(step, 200)] == [1, 50, 100, 150, 200]
    assert offers_preview(1, 1) and [step for step in range(1, 3) if offers_preview(step, 2)] == [1, 2]


def test_tv_weight_smooths_the_result(lite0, small_cat) -> None:
    objective = parse_layer_spec("blocks.2")
    image = to_tensor(small_cat.rgb)
    rough = render(lite0, objective, image, QUICK.with_changes(steps=6))
    smooth = render(lite0, objective, image, QUICK.with_changes(steps=6, tv_weight=5.0))
    assert total_variation(smooth) < total_variation(rough)


def test_laplacian_gradient_norm_dreams_larger_smoother_shapes(lite0, small_cat) -> None:
    objective = parse_layer_spec(QUICK.layers)
    image = to_tensor(small_cat.rgb)
    fine = render(lite0, objective, image, QUICK) - image
    broad = render(lite0, objective, image, QUICK.with_changes(gradient_norm="laplacian")) - image
    assert broad.abs().mean() > 0.005  # it dreams
    assert high_frequency_share(broad) < 0.8 * high_frequency_share(fine)


def test_bf16_precision_runs_the_network_in_bfloat16(lite0, small_cat) -> None:
    objective = parse_layer_spec(QUICK.layers)
    image = to_tensor(small_cat.rgb)
    full = render(lite0, objective, image, QUICK)
    half = render(lite0, objective, image, QUICK.with_changes(precision="bf16"))
    assert half.dtype == torch.float32  # the image itself stays fp32
    assert not torch.equal(half, full)  # the network really ran in bfloat16

    def rise(dreamed: torch.Tensor) -> float:
        return (
            objective(lite0(dreamed, objective.layers)) - objective(lite0(image, objective.layers))
        ).item()

    assert rise(half) > 0.8 * rise(full) > 0.4  # and climbed the objective as far


def test_thin_edge_tiles_still_fit_the_network() -> None:
    """A tile grid can leave an edge sliver thinner than the network accepts; it gets context."""
    model = get_spec("inception_v3").build().freeze()  # needs 75 px; random weights will do
    image = torch.rand(1, 3, 86, 129)
    settings = DreamSettings(steps=1, octaves=1, tile_size=64)
    assert render(model, parse_layer_spec("mixed8"), image, settings).shape == image.shape


@pytest.mark.parametrize("watched", [False, True], ids=["unwatched", "watched"])
def test_masked_out_pixels_stay_exactly_as_they_were(lite0, small_cat, watched: bool) -> None:
    image = to_tensor(small_cat.rgb)
    mask = torch.zeros(1, 1, 80, 120)
    mask[..., 60:] = 1.0
    events: list[Progress] = []
    dreamed = render(
        lite0, parse_layer_spec("blocks.5"), image, QUICK, events.append if watched else None, mask
    )
    assert torch.equal(dreamed[..., :40], image[..., :40])  # beyond the resampled edge
    assert (dreamed[..., 60:] - image[..., 60:]).abs().mean() > 0.01
    assert len(events) == (6 if watched else 0)


@pytest.mark.parametrize("watched", [False, True], ids=["unwatched", "watched"])
def test_tiled_dream_over_octaves_follows_the_untiled_one(lite0, chelsea_path, watched: bool) -> None:
    """At the default tile size, on an image larger than a tile, over several octaves."""
    image = to_tensor(resize_picture(load_image(chelsea_path), (640, 426)).rgb)
    settings = DreamSettings(steps=2, octaves=3, layers="blocks.5", max_side=0, jitter=0)
    objective = parse_layer_spec(settings.layers)
    callback = (lambda event: None) if watched else None
    untiled = render(lite0, objective, image, settings.with_changes(tile_size=1024), callback)
    tiled = render(lite0, objective, image, settings, callback)  # 512: 2 x 1 tiles at full size
    change = (untiled - image).abs().mean()
    assert change > 0.005
    assert (tiled - untiled).abs().mean() < 0.1 * change


def test_auto_tiling_keeps_whole_pictures_that_fit_and_tiles_the_rest() -> None:
    per_pixel = 1000.0
    assert auto_tile(768, 1024, per_pixel, budget=10**9) == 1024  # 0.79 GB needed: one tile
    tile = auto_tile(4096, 4096, per_pixel, budget=10**9)
    assert tile % 32 == 0 and 256 <= tile < 4096
    context = tile + 2 * tile_margin(tile)
    assert context**2 * per_pixel <= 10**9 < (tile + 32 + 2 * tile_margin(tile + 32)) ** 2 * per_pixel


def test_the_measured_need_predicts_a_gradients_saved_activations(lite0) -> None:
    objective = parse_layer_spec("blocks.8,blocks.11")
    per_pixel = activation_bytes_per_pixel(lite0, objective)
    saved = 0

    def count(tensor: torch.Tensor) -> torch.Tensor:
        nonlocal saved
        saved += tensor.numel() * tensor.element_size()
        return tensor

    image = torch.full((1, 3, 384, 512), 0.5).contiguous(memory_format=torch.channels_last)
    with torch.autograd.graph.saved_tensors_hooks(count, lambda tensor: tensor):
        region_gradient(lite0, objective, image, 0.0)
    assert saved == pytest.approx(per_pixel * 384 * 512, rel=0.15)


def test_the_automatic_tile_dreams_a_picture_that_fits_whole(lite0, small_cat) -> None:
    image = to_tensor(small_cat.rgb)
    settings = DreamSettings(steps=2, octaves=2, seed=4)
    assert settings.tile_size == 0
    whole = render(lite0, parse_layer_spec("blocks.8"), image, settings.with_changes(tile_size=1024))
    assert torch.equal(render(lite0, parse_layer_spec("blocks.8"), image, settings), whole)


def test_memory_bound_networks_keep_their_preferred_tile_and_dense_ones_dream_whole(lite0) -> None:
    objective = parse_layer_spec("blocks.8")
    auto = DreamSettings(steps=1)
    assert lite0.spec.preferred_tile == 512
    assert tile_for(lite0, objective, torch.zeros(1, 3, 683, 1024), auto) == 512
    assert tile_for(lite0, objective, torch.zeros(1, 3, 360, 540), auto) == 540  # barely larger: whole
    assert tile_for(lite0, objective, torch.zeros(1, 3, 683, 1024), auto.with_changes(tile_size=256)) == 256
    dense = get_spec("googlenet").build().freeze()
    assert dense.spec.preferred_tile == 0
    assert tile_for(dense, parse_layer_spec("inception4c"), torch.zeros(1, 3, 683, 1024), auto) == 1024


def test_a_loss_that_overflows_fails_the_dream_instead_of_blackening_it(lite0, small_cat) -> None:
    """A weight beyond float32 (only the Python API can still build one) overflows the objective."""
    image = to_tensor(small_cat.rgb)
    objective = parse_layer_spec("blocks.8") * 1e39
    with pytest.raises(DreamFailedError, match="objective became inf"):
        render(lite0, objective, image, QUICK)


def test_a_gradient_that_stops_being_finite_fails_the_dream(lite0, small_cat, monkeypatch) -> None:
    def poisoned(*args, **kwargs):
        gradient, score = region_gradient(*args, **kwargs)
        gradient[0, 0, 0, 0] = float("nan")
        return gradient, score

    monkeypatch.setattr("reverie.render.region_gradient", poisoned)
    with pytest.raises(DreamFailedError, match="gradient stopped being a finite number"):
        render(lite0, parse_layer_spec("blocks.8"), to_tensor(small_cat.rgb), QUICK)
