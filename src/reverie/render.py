"""The dream loop: octaves, steps, random shifts, tiled gradients and gradient normalisation.

It reads like the TensorFlow tutorial: for each octave (smallest first) resize, then repeat
``roll -> gradient of the objective -> unroll -> normalise -> step -> clip``. Each piece is a small
named function so it can be tested on its own. Images are (1, 3, H, W) tensors in [0, 1].

The loop checks nothing: its settings and objective arrive checked by a task (:mod:`reverie.tasks`),
and a progress callback only observes: a dream watched and a dream not watched are the same pixels.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import Tensor

from reverie.errors import DreamFailedError
from reverie.models.base import Backbone
from reverie.objectives import Objective
from reverie.params import FourierPicture, random_view
from reverie.settings import LoopSettings


@dataclass(frozen=True)
class Progress:
    """Reported after every step: 1-based octave and step counters and the objective's value."""

    octave: int
    octaves: int
    step: int
    steps: int
    loss: float
    size: tuple[int, int]  # (width, height) of this octave
    #: The picture so far, (1, 3, H, W) in [0, 1], on the steps :func:`offers_preview` picks (else
    #: None): for previews. It is the live tensor, so copy it before changing it.
    image: Tensor | None = None
    #: (width, height) of every octave, smallest first: what the whole dream will cost.
    sizes: tuple[tuple[int, int], ...] = ()

    @property
    def fraction(self) -> float:
        """Share of the whole dream's work done, 0..1, each step weighted by its octave's pixels: the
        last octave of four at scale 1.4 is half the work, so an estimate of the time left from
        this share holds as the octaves grow."""
        if len(self.sizes) != self.octaves:
            return ((self.octave - 1) * self.steps + self.step) / (self.octaves * self.steps)
        pixels = [width * height for width, height in self.sizes]
        done = sum(pixels[: self.octave - 1]) + pixels[self.octave - 1] * self.step / self.steps
        return done / sum(pixels)


ProgressCallback = Callable[[Progress], None]

#: Previews offered per octave besides its first step: one every quarter of its steps.
PREVIEWS_PER_OCTAVE = 4


def offers_preview(step: int, steps: int) -> bool:
    """Whether step ``step`` (1-based) of an octave of ``steps`` offers its picture for a preview:
    the first (a watcher sees the dream begin after one step, not after a whole octave), every
    quarter of the octave (it grows) and the last. A handful per octave, so a watcher that encodes
    each one (a JPEG sent from a Ray actor) costs little beside the steps themselves."""
    every = -(-steps // PREVIEWS_PER_OCTAVE)
    return step == 1 or step == steps or step % every == 0


def octave_sizes(size: tuple[int, int], octaves: int, scale: float, min_side: int) -> list[tuple[int, int]]:
    """(width, height) of each octave, smallest first, the last equal to ``size``.

    Octave i of n is ``size / scale**(n - 1 - i)``. Octaves whose short side would fall below the
    network's ``min_side`` are skipped rather than failing, so tiny images still dream.
    """
    width, height = size
    sizes = []
    for level in range(octaves - 1, -1, -1):
        factor = scale**level
        octave = (max(1, round(width / factor)), max(1, round(height / factor)))
        if min(octave) >= min_side or level == 0:
            sizes.append(octave)
    return sizes


#: Tile edges and margins are multiples of this, the largest total stride of the supported networks,
#: so a tile sees the same sampling grid as the whole image and their activations line up.
TILE_ALIGN = 32


def align_up(pixels: int, align: int = TILE_ALIGN) -> int:
    """``pixels`` rounded up to a multiple of ``align``."""
    return -(-pixels // align) * align


def tile_spans(length: int, tile: int) -> list[tuple[int, int]]:
    """Split ``length`` pixels into near-equal spans of about ``tile`` pixels (at most tile + 32).

    Near-equal spans (not ``tile, tile, ..., remainder``) avoid a sliver too small for the network;
    inner edges fall on multiples of :data:`TILE_ALIGN`.
    """
    count = max(1, math.ceil(length / tile))
    inner = [round(i * length / count / TILE_ALIGN) * TILE_ALIGN for i in range(1, count)]
    edges = [0, *inner, length]
    return list(itertools.pairwise(edges))


def tile_grid(height: int, width: int, tile: int) -> list[tuple[slice, slice]]:
    """(rows, columns) slices covering an image with tiles of about ``tile`` pixels per side."""
    return [
        (slice(top, bottom), slice(left, right))
        for top, bottom in tile_spans(height, tile)
        for left, right in tile_spans(width, tile)
    ]


def total_variation(image: Tensor) -> Tensor:
    """Mean absolute difference between neighbouring pixels: high for noise, low for smooth areas."""
    dy = (image[..., 1:, :] - image[..., :-1, :]).abs().mean()
    dx = (image[..., :, 1:] - image[..., :, :-1]).abs().mean()
    return dx + dy


def tile_margin(tile: int) -> int:
    """Context added around each tile, in pixels: an eighth of the tile, aligned (64 px for 512).

    The network sees the tile plus this margin but only the tile's own gradient is kept, so the
    zero padding at a tile's edge never produces the bright seams of naive tiling.
    """
    return align_up(tile // 8)


#: Memory the network's saved activations may take for one gradient when the tile size is chosen
#: automatically (``tile_size=0``), bytes. 2 GiB lets 1024 px pictures of every supported network run
#: untiled; a GPU gets half its free memory instead.
TILE_MEMORY_BUDGET = 2 * 1024**3


def activation_bytes_per_pixel(model: Backbone, objective: Objective, precision: str = "fp32") -> float:
    """What one gradient of ``objective`` keeps for the backward pass, bytes per input pixel.

    Measured once per model, layers and precision on a 256 px probe (the saved tensors, counted as
    autograd stores them) and cached on the model: activations grow with the pixel count, so this
    predicts any size's need without trying it.
    """
    key = (tuple(objective.layers), precision)
    cache: dict[tuple[tuple[str, ...], str], float] = model.__dict__.setdefault("_bytes_per_pixel", {})
    if key not in cache:
        saved = 0

        def count(tensor: Tensor) -> Tensor:
            nonlocal saved
            saved += tensor.numel() * tensor.element_size()
            return tensor

        # Grey, not random: the probe must not draw from the global random state.
        probe = torch.full((1, 3, 256, 256), 0.5, device=next(model.parameters()).device)
        with torch.autograd.graph.saved_tensors_hooks(count, lambda tensor: tensor):
            region_gradient(
                model, objective, probe.contiguous(memory_format=torch.channels_last), 0.0, precision
            )
        cache[key] = saved / (256 * 256)
    return cache[key]


def memory_budget(device: torch.device) -> int:
    """Bytes the activations of one gradient may take: :data:`TILE_MEMORY_BUDGET` on a CPU, half the
    free memory on a GPU."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return free // 2
    return TILE_MEMORY_BUDGET


def auto_tile(height: int, width: int, bytes_per_pixel: float, budget: int) -> int:
    """The tile size for ``tile_size=0``: the whole picture when it fits ``budget``, else the largest
    aligned tile whose context (the tile plus its margins, :func:`tile_margin`) fits."""
    if height * width * bytes_per_pixel <= budget:
        return max(height, width)
    tile = TILE_ALIGN * 2
    while (tile + TILE_ALIGN + 2 * tile_margin(tile + TILE_ALIGN)) ** 2 * bytes_per_pixel <= budget:
        tile += TILE_ALIGN
    return tile


def tile_for(model: Backbone, objective: Objective, image: Tensor, settings: LoopSettings) -> int:
    """The tile size a step uses: the settings', or when that is 0 one chosen from memory and, on a
    CPU, no larger than the model's preferred tile (:attr:`ModelSpec.preferred_tile`). A picture at
    most a quarter larger than that preferred tile is dreamed whole: two tiles and their margins
    would cost more than the cache saves (540x360 ran 0.13 s a step whole, up to 0.16 s tiled)."""
    if settings.tile_size:
        return settings.tile_size
    height, width = image.shape[-2:]
    needed = activation_bytes_per_pixel(model, objective, settings.precision)
    tile = auto_tile(height, width, needed, memory_budget(image.device))
    spec = getattr(model, "spec", None)
    preferred = spec.preferred_tile if spec is not None and image.device.type == "cpu" else 0
    if preferred and max(height, width) > preferred * 5 // 4:
        tile = min(tile, preferred)
    return tile


def tiled_gradient(
    model: Backbone,
    objective: Objective,
    image: Tensor,
    tile: int,
    tv_weight: float,
    shift: tuple[int, int] = (0, 0),
    precision: str = "fp32",
) -> tuple[Tensor, float]:
    """Gradient of the objective w.r.t. ``image`` rolled by ``shift``, returned unrolled.

    The roll is never materialised: each tile (with a margin of context, :func:`tile_margin`) is
    gathered from ``image`` with wrapped indices and its gradient written back the same way, so a
    step holds just one full-size gradient beside the image. Memory depends on the tile size, not
    the image size. Tiles are weighted by their share of the image so that, away from the image
    border, the result equals the whole-image gradient of the whole-image mean.
    """
    height, width = image.shape[-2:]
    margin = tile_margin(tile) if max(height, width) > tile else 0
    gradient = torch.empty_like(image)
    total = 0.0
    for rows, columns in tile_grid(height, width, tile):
        context_rows = context_span(rows, margin, height, model.min_side)
        context_columns = context_span(columns, margin, width, model.min_side)
        row_index = rolled_index(context_rows, shift[0], height, image.device)
        column_index = rolled_index(context_columns, shift[1], width, image.device)
        context = image[:, :, row_index[:, None], column_index[None, :]]
        context = context.contiguous(memory_format=torch.channels_last)
        share = context.shape[-2] * context.shape[-1] / (height * width)
        piece_gradient, score = region_gradient(model, objective, context, tv_weight, precision)
        inner_rows = slice(rows.start - context_rows.start, rows.stop - context_rows.start)
        inner_columns = slice(columns.start - context_columns.start, columns.stop - context_columns.start)
        gradient[:, :, row_index[inner_rows, None], column_index[None, inner_columns]] = (
            share * piece_gradient[:, :, inner_rows, inner_columns]
        )
        total += score * (rows.stop - rows.start) * (columns.stop - columns.start) / (height * width)
    return gradient, total


def context_span(span: slice, margin: int, length: int, min_side: int) -> slice:
    """``span`` widened by ``margin`` each side, within [0, length), and to at least ``min_side``.

    An edge tile can be a thin sliver; the network still needs ``min_side`` pixels to run.
    """
    start, stop = max(0, span.start - margin), min(length, span.stop + margin)
    if stop - start < min_side:
        start = max(0, min(start, stop - min_side))
        stop = min(length, start + min_side)
    return slice(start, stop)


def rolled_index(span: slice, shift: int, length: int, device: torch.device) -> Tensor:
    """Source indices of ``span`` in an axis rolled by ``shift``: ``torch.roll`` without the copy."""
    return (torch.arange(span.start, span.stop, device=device) - shift) % length


def region_gradient(
    model: Backbone, objective: Objective, image: Tensor, tv_weight: float, precision: str = "fp32"
) -> tuple[Tensor, float]:
    """Gradient of the objective (minus the TV penalty) over one image or tile, and its value.

    With ``precision="bf16"`` the network runs under bfloat16 autocast; the image and its gradient
    stay fp32, so the ascent itself keeps full precision.
    """
    piece = image.detach().requires_grad_(True)
    with torch.autocast(piece.device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
        score = objective(model(piece, objective.layers)).float()
    if tv_weight:
        score = score - tv_weight * total_variation(piece)
    (gradient,) = torch.autograd.grad(score, piece)
    return gradient, float(score.detach())


def normalise_gradient(gradient: Tensor, method: str = "std") -> Tensor:
    """Scale the gradient to unit size so the step size means the same at every layer and octave.

    The std form works in place (the gradient is a fresh buffer) to spare a full-size copy.
    """
    if method == "laplacian":
        return laplacian_normalise(gradient)
    return gradient.div_(gradient.std() + 1e-8)


_BINOMIAL = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0]) / 16


def _blur_down(image: Tensor) -> Tensor:
    """5x5 binomial blur and halve: one level down a Gaussian pyramid."""
    kernel = torch.outer(_BINOMIAL, _BINOMIAL).to(image)[None, None].repeat(image.shape[1], 1, 1, 1)
    padded = F.pad(image, (2, 2, 2, 2), mode="replicate")
    return F.conv2d(padded, kernel, stride=2, groups=image.shape[1])


def laplacian_normalise(gradient: Tensor, levels: int = 4) -> Tensor:
    """Normalise each frequency band of the gradient to unit RMS, then recombine.

    From Google's DeepDream notebook ("lapnorm"): low frequencies get as much push as high ones,
    which gives larger, smoother structures than plain std normalisation.
    """
    bands = []
    current = gradient
    for _ in range(levels - 1):
        if min(current.shape[-2:]) < 4:
            break
        low = _blur_down(current)
        bands.append(current - F.interpolate(low, size=current.shape[-2:], mode="bilinear"))
        current = low
    bands.append(current)
    result = bands[-1] / (bands[-1].pow(2).mean().sqrt() + 1e-8)
    for band in reversed(bands[:-1]):
        result = F.interpolate(result, size=band.shape[-2:], mode="bilinear")
        result = result + band / (band.pow(2).mean().sqrt() + 1e-8)
    return result / (result.std() + 1e-8)


def random_shift(generator: torch.Generator, limit: int) -> tuple[int, int]:
    """A (dy, dx) roll, each uniform in [-limit, limit]."""
    if limit <= 0:
        return 0, 0
    dy, dx = torch.randint(-limit, limit + 1, (2,), generator=generator).tolist()
    return dy, dx


def gradient_ascent_step(
    model: Backbone,
    objective: Objective,
    image: Tensor,
    settings: LoopSettings,
    generator: torch.Generator,
    mask: Tensor | None = None,
) -> float:
    """One step, in place on ``image``: roll, (tiled) gradient, unroll, normalise, ascend, clip.

    Returns the objective's value. Tiling needs no extra random shift to hide seams: tiles see
    aligned context around them (:func:`tiled_gradient`), so a tiled step follows the untiled one.
    """
    height, width = image.shape[-2:]
    shift = random_shift(generator, min(settings.jitter, max(height, width)))
    tile = tile_for(model, objective, image, settings)
    if settings.transforms == "all":
        gradient, loss = viewed_gradient(model, objective, image, tile, settings, shift, generator)
    else:
        gradient, loss = tiled_gradient(
            model, objective, image, tile, settings.tv_weight, shift, settings.precision
        )
    check_finite(loss, gradient)
    gradient = normalise_gradient(gradient, settings.gradient_norm)
    if mask is not None:
        gradient.mul_(mask)
    image.add_(gradient, alpha=settings.step_size).clamp_(0, 1)
    return loss


def viewed_gradient(
    model: Backbone,
    objective: Objective,
    image: Tensor,
    tile: int,
    settings: LoopSettings,
    shift: tuple[int, int],
    generator: torch.Generator,
) -> tuple[Tensor, float]:
    """The objective's gradient with ``image`` seen through a random scale and turn
    (:func:`reverie.params.random_view`) besides the roll, carried back through the view to the
    picture's own pixels (``--transforms all`` in pixel space). The view costs a resampled copy of
    the picture and its sampling grid (two values a pixel), kept for the backward pass, beyond what
    the tile size allows for; the network's pass is tiled as ever."""
    source = image.detach().requires_grad_(True)
    view = random_view(source, generator)
    gradient, loss = tiled_gradient(
        model, objective, view.detach(), tile, settings.tv_weight, shift, settings.precision
    )
    (back,) = torch.autograd.grad(view, source, grad_outputs=gradient)
    return back, loss


def check_finite(loss: float, gradient: Tensor) -> None:
    """:class:`DreamFailedError` when the objective or its gradient is no longer a finite number.

    A step taken along an infinite or NaN gradient would turn the picture black (or NaN) for every
    step after it, and the dream would be saved looking done; failing here names the cause instead.
    """
    if not math.isfinite(loss):
        raise DreamFailedError(
            f"the dream's objective became {loss} (a layer weight too large for float32?); nothing was saved"
        )
    if not bool(torch.isfinite(gradient).all()):
        raise DreamFailedError("the dream's gradient stopped being a finite number; nothing was saved")


def resize(image: Tensor, size: tuple[int, int]) -> Tensor:
    """Resize a (1, C, H, W) tensor to (width, height) with antialiased bicubic interpolation."""
    width, height = size
    if image.shape[-2:] == (height, width):
        return image
    return F.interpolate(image, size=(height, width), mode="bicubic", align_corners=False, antialias=True)


def render(
    model: Backbone,
    objective: Objective,
    image: Tensor,
    settings: LoopSettings,
    progress: ProgressCallback | None = None,
    mask: Tensor | None = None,
) -> Tensor:
    """Dream ``image`` (1, 3, H, W in [0, 1]) and return the result at the same size.

    ``mask`` (1, 1, H, W in [0, 1]) scales every step: 0 leaves a pixel exactly as it was, 1 dreams
    it fully, grey in between.

    Octaves carry *detail* (dreamed minus base) rather than the dreamed image, as Google's original
    notebook does: each octave starts from a freshly resized photo plus upscaled detail, so the photo
    itself is never blurred by repeated down- and up-sampling. On a GPU, cuDNN runs deterministic
    kernels without its autotuner (:func:`deterministic_cudnn`), so a dream is the same every run.
    """
    with deterministic_cudnn():
        if settings.param == "fft":
            return dream_spectrum(model, objective, image, settings, progress)
        return dream_octaves(model, objective, image, settings, progress, mask)


_CUDNN_LOCK = threading.Lock()
_cudnn_users = 0
_cudnn_saved = (False, False)


@contextlib.contextmanager
def deterministic_cudnn() -> Iterator[None]:
    """cuDNN's deterministic kernels and no autotuner while any dream runs; the process's own
    choices come back when the last one ends (the flags are process-wide, and web workers dream in
    threads). With the autotuner, the same settings gave pictures up to 181/255 apart run after run
    on an H200; the deterministic kernels cost no measurable time (bench/GPU_DETERMINISM.md)."""
    global _cudnn_users, _cudnn_saved
    cudnn = torch.backends.cudnn
    with _CUDNN_LOCK:
        if _cudnn_users == 0:
            _cudnn_saved = cudnn.benchmark, cudnn.deterministic
            cudnn.benchmark, cudnn.deterministic = False, True
        _cudnn_users += 1
    try:
        yield
    finally:
        with _CUDNN_LOCK:
            _cudnn_users -= 1
            if _cudnn_users == 0:
                cudnn.benchmark, cudnn.deterministic = _cudnn_saved


def dream_octaves(
    model: Backbone,
    objective: Objective,
    image: Tensor,
    settings: LoopSettings,
    progress: ProgressCallback | None,
    mask: Tensor | None,
) -> Tensor:
    """The octave loop of :func:`render`."""
    generator = torch.Generator().manual_seed(settings.seed)
    height, width = image.shape[-2:]
    sizes = octave_sizes((width, height), settings.octaves, settings.octave_scale, model.min_side)
    detail: Tensor | None = None
    for octave, size in enumerate(sizes, start=1):
        base = octave_base(image, size)
        dreamed = octave_start(base, detail)
        detail = None  # released: at full size every copy counts
        octave_mask = None if mask is None else resize(mask, size).clamp_(0, 1)
        # The tile is chosen once per octave: every step of it has the same size, and on a GPU the
        # free memory read at each step could otherwise change the tiling from one step to the next.
        octave_settings = replace(settings, tile_size=tile_for(model, objective, dreamed, settings))
        for step in range(1, settings.steps + 1):
            loss = gradient_ascent_step(model, objective, dreamed, octave_settings, generator, octave_mask)
            if progress is not None:
                preview = dreamed.detach() if offers_preview(step, settings.steps) else None
                progress(
                    Progress(octave, len(sizes), step, settings.steps, loss, size, preview, tuple(sizes))
                )
        if octave < len(sizes):
            detail = dreamed - base
    return dreamed.detach()


#: Adam's learning rate per unit of ``step_size`` in ``--param fft``: the default 0.01 gives 0.05,
#: the rate feature visualisations use.
SPECTRUM_RATE = 5.0


def dream_spectrum(
    model: Backbone,
    objective: Objective,
    image: Tensor,
    settings: LoopSettings,
    progress: ProgressCallback | None,
) -> Tensor:
    """The loop of ``--param fft`` (:mod:`reverie.params`): ``image`` as a spectrum, moved by Adam
    for steps x octaves steps at its own size; each step looks at it through a random scale and turn
    (:func:`reverie.params.random_view`, unless ``--transforms roll``) and the jitter's roll, and
    the objective's gradient (tiled as any other) flows back to the spectrum through both."""
    generator = torch.Generator().manual_seed(settings.seed)
    picture = FourierPicture.from_picture(image)
    optimiser = torch.optim.Adam([picture.coefficients], lr=SPECTRUM_RATE * settings.step_size)
    height, width = image.shape[-2:]
    total, size = settings.steps * settings.octaves, (width, height)
    tile = tile_for(model, objective, image, settings)
    for step in range(1, total + 1):
        rgb = picture.image()
        view = rgb if settings.transforms == "roll" else random_view(rgb, generator)
        shift = random_shift(generator, min(settings.jitter, max(height, width)))
        gradient, loss = tiled_gradient(
            model, objective, view.detach(), tile, settings.tv_weight, shift, settings.precision
        )
        check_finite(loss, gradient)
        optimiser.zero_grad(set_to_none=True)
        view.backward(-gradient)  # Adam descends: the objective's gradient, reversed, ascends
        optimiser.step()
        if progress is not None:
            preview = rgb.detach() if offers_preview(step, total) else None
            progress(Progress(1, 1, step, total, loss, size, preview, (size,)))
    with torch.no_grad():
        return picture.image().detach()


def octave_base(image: Tensor, size: tuple[int, int]) -> Tensor:
    """The photo at an octave's size, kept in [0, 1] (bicubic overshoots at sharp edges).

    Clipping here, not only after each step, keeps the detail exactly zero where nothing was
    dreamed, so masked-out pixels stay exactly as they were.
    """
    base = resize(image, size)
    return base if base is image else base.clamp_(0, 1)


def octave_start(base: Tensor, detail: Tensor | None) -> Tensor:
    """A new channels-last image: the resized photo plus the upscaled detail of the last octave."""
    height, width = base.shape[-2:]
    start = torch.empty_like(base, memory_format=torch.channels_last)
    if detail is None:
        start.copy_(base)
    else:
        torch.add(base, resize(detail, (width, height)), out=start)
    return start.clamp_(0, 1)
