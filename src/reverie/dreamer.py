"""The engine: :class:`Dreamer` (a model loaded once, on a device) and :class:`PreparedDream`
(checked settings bound to it, ready to dream picture after picture).

It knows nothing of jobs: every job is a task (:mod:`reverie.tasks`) that checks itself once and
then runs on a Dreamer; :func:`reverie.api.dream` is the one-call convenience on top of both.
"""

from __future__ import annotations

import os
from dataclasses import replace

import torch

from reverie.colour import keep_colours
from reverie.devices import resolve_device, warn_if_bf16_is_slow
from reverie.errors import SettingsError
from reverie.io.images import DEFAULT_MAX_PIXELS, Picture, load_image
from reverie.masks import load_mask
from reverie.models import DEFAULT_MODEL, Backbone, get_spec, load_model
from reverie.models.optimise import speed_up
from reverie.objectives import Objective, parse_layer_spec
from reverie.render import ProgressCallback, render
from reverie.settings import DreamSettings
from reverie.tensors import fit_around, from_tensor, resize_picture, to_tensor, working_picture
from reverie.weights import find_weights

PathLike = str | os.PathLike[str]

#: Guide images are read at up to this many pixels per side: their motifs, not their detail, matter.
GUIDE_MAX_SIDE = 512


class Dreamer:
    """A loaded model (its weights found and folded for speed) on a device, that dreams many
    pictures: ``dream("cat.jpg", dreamer=Dreamer())``, or ``task.run(dreamer)``."""

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        weights: PathLike | None = None,
        device: str | torch.device = "auto",
    ) -> None:
        self.model_name = model
        self.device = resolve_device(device)
        #: The weight file actually loaded (a video job's fingerprint names it).
        self.weights_path = find_weights(get_spec(model), weights)
        self.model: Backbone = speed_up(load_model(model, self.weights_path, self.device))

    def prepare(self, settings: DreamSettings, max_pixels: int = DEFAULT_MAX_PIXELS) -> PreparedDream:
        """Bind checked settings (a task's ``check()`` made them) to this model; ``max_pixels``
        bounds the guide and mask images it reads."""
        if settings.model != self.model_name:
            raise SettingsError(
                f"settings ask for model {settings.model} but this Dreamer holds {self.model_name}"
            )
        return PreparedDream(self, settings, max_pixels)

    def objective(self, settings: DreamSettings, max_pixels: int = DEFAULT_MAX_PIXELS) -> Objective:
        """The objective ``settings`` ask for, with the guide image's features bound.

        ``--guide`` without ``guide:`` terms turns every layer term into a guide term, which is
        how Google's notebook guides a dream.
        """
        objective = parse_layer_spec(settings.layers)
        if settings.guide and not objective.guide_layers:
            objective = objective.as_guided()
        if objective.guide_layers:
            features = self.guide_features(settings.guide, objective.guide_layers, max_pixels)
            objective = objective.with_guide(features)
        return objective

    @torch.no_grad()
    def guide_features(
        self, path: PathLike, layers: list[str], max_pixels: int = DEFAULT_MAX_PIXELS
    ) -> dict[str, torch.Tensor]:
        """The guide image's activations at ``layers``, (channels, positions), at up to 512 px."""
        guide = load_image(path, max_pixels, GUIDE_MAX_SIDE)
        size = fit_around(guide.size, self.model.min_side)
        tensor = to_tensor(resize_picture(guide, size).rgb).to(self.device)
        found = self.model(tensor, layers)
        return {name: found[name][0].flatten(1) for name in layers}


class PreparedDream:
    """Checked settings bound to a loaded model: the objective (guide features computed once) and
    the mask at each size asked for. A zoom or a video dreams every frame through one of these."""

    def __init__(
        self, dreamer: Dreamer, settings: DreamSettings, max_pixels: int = DEFAULT_MAX_PIXELS
    ) -> None:
        self.dreamer = dreamer
        self.settings = settings
        self.max_pixels = max_pixels
        self.objective = dreamer.objective(settings, max_pixels)
        self._masks: dict[tuple[int, int], torch.Tensor] = {}
        warn_if_bf16_is_slow(settings.precision, dreamer.device)

    def dream(
        self,
        picture: Picture,
        progress: ProgressCallback | None = None,
        seed: int | None = None,
        steps: int = 0,
        octaves: int = 0,
    ) -> Picture:
        """``picture`` dreamed at the working size (its long side reduced to ``max_side``).

        A picture smaller than the network's minimum side is dreamed enlarged and comes back at its
        own size. ``seed`` replaces the settings' seed (zoom frames each take their own); ``steps``
        and ``octaves``, when not 0, replace the settings' (a video's later frames take fewer).
        """
        settings = self.settings if seed is None else replace(self.settings, seed=seed)
        if steps or octaves:
            settings = replace(settings, steps=steps or settings.steps, octaves=octaves or settings.octaves)
        working = working_picture(picture, settings.max_side)
        size = fit_around(working.size, self.dreamer.model.min_side)
        start = resize_picture(Picture(working.rgb), size).rgb
        image = to_tensor(start, share=True).to(self.dreamer.device)
        dreamed = render(self.dreamer.model, self.objective, image, settings, progress, self.mask(size))
        rgb = from_tensor(dreamed.cpu())
        if size != working.size:
            rgb = resize_picture(Picture(rgb), working.size).rgb
        if settings.keep_colors:
            rgb = keep_colours(rgb, working.rgb)
        return Picture(rgb, working.alpha)

    def mask(self, size: tuple[int, int]) -> torch.Tensor | None:
        """The settings' mask at ``size`` (width, height), (1, 1, H, W) on the device; None without one."""
        if not self.settings.mask:
            return None
        if size not in self._masks:
            weights = load_mask(self.settings.mask, size, self.max_pixels)
            self._masks[size] = torch.from_numpy(weights)[None, None].to(self.dreamer.device)
        return self._masks[size]
