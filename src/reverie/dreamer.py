"""The public entry points: :class:`Dreamer` (load a model once, dream many images) and :func:`dream`.

This is where settings, presets, images and the render loop meet; front ends (the CLI) only
call these.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import numpy as np
import torch

from reverie import __version__
from reverie.errors import ImageError, SettingsError
from reverie.imaging import (
    DEFAULT_MAX_PIXELS,
    METADATA_KEY,
    Picture,
    check_output_path,
    fit_within,
    from_tensor,
    keep_colours,
    load_image,
    load_mask,
    read_metadata,
    resize_picture,
    save_image,
    to_tensor,
)
from reverie.models import Backbone, get_spec, load_model
from reverie.models.optimise import speed_up
from reverie.objectives import Objective, parse_layer_spec
from reverie.render import ProgressCallback, render
from reverie.settings import DreamSettings

PathLike = str | os.PathLike[str]


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``auto`` picks CUDA when present, else the CPU; an unusable device is a :class:`SettingsError`."""
    name = str(device)
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name != "cpu" and not name.startswith("cuda"):
        raise SettingsError(f"unknown device {device!r}; use cpu, cuda or auto")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SettingsError("--device cuda was asked for, but no CUDA GPU is available")
    try:
        resolved = torch.device(name)
    except RuntimeError:
        raise SettingsError(f"unknown device {device!r}; use cpu, cuda, cuda:N or auto") from None
    if resolved.type == "cuda":
        if resolved.index is not None and not 0 <= resolved.index < torch.cuda.device_count():
            raise SettingsError(f"no GPU {resolved.index}; this machine has {torch.cuda.device_count()}")
        # Tile and octave shapes repeat step after step, so cuDNN's autotuner pays for itself.
        torch.backends.cudnn.benchmark = True
    return resolved


def resolve_layers(settings: DreamSettings) -> str:
    """The layer specification to dream on: explicit layers, else the (default) preset's."""
    spec = get_spec(settings.model)
    preset = settings.preset or spec.default_preset
    if preset not in spec.presets:
        raise SettingsError(f"unknown preset {preset!r} for {spec.name}; presets: {', '.join(spec.presets)}")
    return settings.layers or spec.presets[preset]


@dataclass(frozen=True)
class DreamResult:
    """A dreamed picture and the exact settings (layers resolved) that made it."""

    picture: Picture
    settings: DreamSettings


class Dreamer:
    """A loaded model that dreams many images: ``Dreamer().dream("cat.jpg").picture``."""

    def __init__(
        self,
        model: str = "efficientnet_lite0",
        weights: PathLike | None = None,
        device: str | torch.device = "auto",
    ) -> None:
        self.model_name = model
        self.weights = weights
        self.device = resolve_device(device)
        self.model: Backbone = speed_up(load_model(model, weights, self.device))

    def objective(self, settings: DreamSettings) -> Objective:
        """The objective ``settings`` ask for, guide features bound, checked against this model.

        ``--guide`` without ``guide:`` terms turns every layer term into a guide term, which is
        how Google's notebook guides a dream.
        """
        objective = parse_layer_spec(resolve_layers(settings))
        if settings.guide and not objective.guide_layers:
            objective = objective.as_guided()
        if objective.guide_layers:
            if not settings.guide:
                raise SettingsError("guide: terms need a guide image; pass --guide IMAGE")
            objective = objective.with_guide(self.guide_features(settings.guide, objective.guide_layers))
        objective.check(self.model)
        return objective

    @torch.no_grad()
    def guide_features(self, path: PathLike, layers: list[str]) -> dict[str, torch.Tensor]:
        """The guide image's activations at ``layers``, (channels, positions), at up to 512 px."""
        guide = load_image(path)
        size = fit_within((guide.width, guide.height), 512)
        if min(size) < self.model.min_input_side:
            raise ImageError(f"guide image {path} is too small for {self.model_name}")
        tensor = to_tensor(resize_picture(guide, size).rgb).to(self.device)
        found = self.model(tensor, layers)
        return {name: found[name][0].flatten(1) for name in layers}

    def dream(
        self,
        image: PathLike | Picture | np.ndarray,
        settings: DreamSettings | None = None,
        progress: ProgressCallback | None = None,
        **changes: object,
    ) -> DreamResult:
        """Dream ``image`` (a path, a :class:`Picture`, or an (H, W, 3) array in [0, 1]).

        Keyword arguments override single settings: ``dreamer.dream(img, steps=20, layers="blocks.9")``.
        The result is at the working resolution (the input reduced to ``max_side``); alpha is kept.
        """
        settings = (settings or DreamSettings()).with_changes(**changes)
        if not settings.model:
            settings = settings.with_changes(model=self.model_name)
        if settings.model != self.model_name:
            raise SettingsError(
                f"settings ask for model {settings.model} but this Dreamer holds {self.model_name}"
            )
        settings = settings.with_changes(layers=resolve_layers(settings)).validate()
        picture = self.working_picture(as_picture(image), settings.max_side)
        objective = self.objective(settings)
        mask = None
        if settings.mask:
            weights = load_mask(settings.mask, (picture.width, picture.height))
            mask = torch.from_numpy(weights)[None, None].to(self.device)
        result = render(
            self.model,
            objective,
            to_tensor(picture.rgb, share=True).to(self.device),
            settings,
            progress,
            mask,
        )
        rgb = from_tensor(result.cpu())
        if settings.keep_colors:
            rgb = keep_colours(rgb, picture.rgb)
        return DreamResult(Picture(rgb, picture.alpha), settings)

    def working_picture(self, picture: Picture, max_side: int) -> Picture:
        """``picture`` reduced so its long side is at most ``max_side`` (0: unchanged), size checked."""
        size = fit_within((picture.width, picture.height), max_side or None)
        if min(size) < self.model.min_input_side:
            raise ImageError(
                f"image is too small: {size[0]}x{size[1]} px (after --max-side); {self.model_name} "
                f"needs at least {self.model.min_input_side} px per side"
            )
        return resize_picture(picture, size) if size != (picture.width, picture.height) else picture

    def dream_file(
        self,
        source: PathLike | Picture,
        output: PathLike,
        settings: DreamSettings | None = None,
        progress: ProgressCallback | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ) -> DreamResult:
        """Dream the image at ``source`` (or a :class:`Picture`) into ``output``, atomically.

        The output path is checked before any work, the input is never overwritten, and the settings
        are stored in the file so ``read_settings(output)`` reproduces it.
        """
        if isinstance(source, Picture):
            protect = [source.source] if source.source is not None else []
        else:
            protect = [source]
        check_output_path(output, protect=protect)
        picture = source if isinstance(source, Picture) else load_image(source, max_pixels=max_pixels)
        result = self.dream(picture, settings, progress)
        save_image(output, result.picture, metadata=recipe(result.settings), protect=protect)
        return result


def as_picture(image: PathLike | Picture | np.ndarray) -> Picture:
    """Accept the image forms the API promises and return a :class:`Picture`."""
    if isinstance(image, Picture):
        return image
    if isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[2] != 3:
            raise ImageError(f"an image array must have shape (H, W, 3); got {image.shape}")
        if image.dtype.kind not in "f" or (image.size and (image.min() < 0 or image.max() > 1)):
            raise ImageError("an image array must hold floats in [0, 1] (divide 8-bit values by 255)")
        return Picture(image.astype(np.float32), None)
    return load_image(image)


def recipe(settings: DreamSettings) -> dict[str, str]:
    """Metadata that makes a result reproducible: settings, model, seed and Reverie's version."""
    payload = {"version": __version__, "settings": json.loads(settings.to_json())}
    return {METADATA_KEY: json.dumps(payload, sort_keys=True)}


def read_settings(path: PathLike) -> DreamSettings:
    """The settings stored in a Reverie result; :class:`SettingsError` if it holds none."""
    text = read_metadata(path).get(METADATA_KEY)
    if not text:
        raise SettingsError(f"{path} holds no Reverie settings (was it made by reverie dream?)")
    try:
        payload = json.loads(text)
    except json.JSONDecodeError:
        raise SettingsError(f"{path} has unreadable Reverie settings") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("settings"), dict):
        raise SettingsError(f"{path} has unreadable Reverie settings")
    return DreamSettings.from_dict(payload["settings"])


def dream(
    image: PathLike | Picture | np.ndarray,
    output: PathLike | None = None,
    *,
    model: str = "efficientnet_lite0",
    weights: PathLike | None = None,
    device: str = "auto",
    progress: ProgressCallback | None = None,
    **settings: object,
) -> DreamResult:
    """One-call DeepDream: ``dream("cat.jpg", "dream.png", layers="blocks.9", steps=20)``.

    Loads the model each call; use :class:`Dreamer` to dream many images with one model.
    """
    dreamer = Dreamer(model, weights, device)
    base = DreamSettings(model=model).with_changes(**settings)
    if output is None:
        return dreamer.dream(image, base, progress)
    source = as_picture(image) if isinstance(image, np.ndarray) else image
    return dreamer.dream_file(source, output, base, progress)
