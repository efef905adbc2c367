"""How a dream's picture is represented while it is optimised, and the random transforms each step.

Plain DeepDream moves pixels (``--param pixel``). A network's gradient in pixel space is mostly high
frequencies, so a picture grown from noise that way fills with fine noise. ``--param fft`` moves a
Fourier spectrum instead, scaled by 1/f so that a step changes coarse structure as readily as fine,
as the spectra of natural images do, with its colour decorrelated (each step moves along the main
axes of natural colour, not raw R, G and B), and looks at the picture through a small random scale
and rotation each step, so the network cannot rely on patterns that only exist at one exact pixel
grid. These are the three ideas of Lucid's feature visualisation (Olah et al., "Feature
Visualization", Distill 2017), written here from the paper.

Each piece is a small function, testable alone: :func:`spectrum_weight`, :class:`FourierPicture`
(picture <-> spectrum, exactly invertible), :func:`random_view` (the transforms).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

#: Square root of the colour covariance of natural photos (the two bundled samples, by SVD,
#: columns scaled so the longest is 1; ``tests/test_params.py`` derives it again). Multiplying a
#: decorrelated colour by it gives RGB with natural colour correlations.
COLOUR_SQRT = torch.tensor(
    [
        [0.5587, 0.3010, 0.0269],
        [0.6230, -0.0704, -0.0762],
        [0.5475, -0.2271, 0.0593],
    ]
)
#: Divides the spectrum's image, so that a spectrum of unit coefficients gives a picture of modest
#: contrast after the sigmoid.
SPECTRUM_GAIN = 4.0
#: Random scale and rotation of each step's view: within 1 +- this share, and +- these degrees.
SCALE_RANGE = 0.05
ROTATE_DEGREES = 5.0
#: How far a picture's values are kept from 0 and 1 before the sigmoid is inverted.
EDGE = 1e-3


def spectrum_weight(height: int, width: int) -> Tensor:
    """(height, width // 2 + 1) weights of a real 2-D spectrum: 1 / frequency (cycles per pixel),
    the lowest frequencies capped at 1 / (the longer side), so the mean is not infinite."""
    rows = torch.fft.fftfreq(height)[:, None]
    columns = torch.fft.rfftfreq(width)[None, :]
    frequency = torch.sqrt(rows**2 + columns**2)
    return 1.0 / torch.clamp(frequency, min=1.0 / max(height, width))


class FourierPicture:
    """A picture held as a 1/f-scaled spectrum of decorrelated colour: ``image()`` turns it into
    RGB (1, 3, H, W) in (0, 1) through the inverse FFT, the colour matrix and a sigmoid;
    :meth:`from_picture` finds the spectrum of a given picture (exactly, up to :data:`EDGE`)."""

    def __init__(self, coefficients: Tensor, height: int, width: int) -> None:
        #: (2, 3, H, W // 2 + 1): real and imaginary parts, what the optimiser moves.
        self.coefficients = coefficients
        self.size = (height, width)
        self.weight = spectrum_weight(height, width).to(coefficients)

    @classmethod
    def from_picture(cls, rgb: Tensor) -> FourierPicture:
        """The spectrum of ``rgb`` (1, 3, H, W in [0, 1]), ready to optimise."""
        height, width = rgb.shape[-2:]
        linear = torch.logit(rgb.detach().float().clamp(EDGE, 1 - EDGE))
        decorrelated = torch.einsum("ij,bjhw->bihw", torch.linalg.inv(COLOUR_SQRT).to(linear), linear)
        spectrum = torch.fft.rfft2(decorrelated[0] * SPECTRUM_GAIN, norm="ortho")
        spectrum = spectrum / spectrum_weight(height, width).to(linear)
        coefficients = torch.stack([spectrum.real, spectrum.imag]).contiguous().requires_grad_(True)
        return cls(coefficients, height, width)

    def image(self) -> Tensor:
        """The picture, (1, 3, H, W) in (0, 1), differentiable with respect to the coefficients."""
        spectrum = torch.complex(self.coefficients[0], self.coefficients[1]) * self.weight
        decorrelated = torch.fft.irfft2(spectrum, s=self.size, norm="ortho")[None] / SPECTRUM_GAIN
        linear = torch.einsum("ij,bjhw->bihw", COLOUR_SQRT.to(decorrelated), decorrelated)
        return torch.sigmoid(linear)


def pink_noise(height: int, width: int, seed: int) -> Tensor:
    """A canvas for a dream from noise in Fourier space: faint 1/f noise around grey, (1, 3, H, W)
    in (0, 1), from a seeded normal spectrum. White noise would hand the dream the very high
    frequencies this representation is meant to keep out."""
    generator = torch.Generator().manual_seed(seed)
    coefficients = 0.01 * torch.randn((2, 3, height, width // 2 + 1), generator=generator)
    return FourierPicture(coefficients, height, width).image()


def random_view(image: Tensor, generator: torch.Generator) -> Tensor:
    """``image`` scaled by 1 +- :data:`SCALE_RANGE` and turned +- :data:`ROTATE_DEGREES` about its
    centre, at random, with its edges reflected in: differentiable, so the gradient reaches the
    spectrum through it."""
    scale = 1 + SCALE_RANGE * (2 * torch.rand((), generator=generator).item() - 1)
    angle = math.radians(ROTATE_DEGREES * (2 * torch.rand((), generator=generator).item() - 1))
    cos, sin = math.cos(angle) / scale, math.sin(angle) / scale
    theta = torch.tensor([[[cos, -sin, 0.0], [sin, cos, 0.0]]], dtype=image.dtype, device=image.device)
    grid = F.affine_grid(theta, list(image.shape), align_corners=False)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
