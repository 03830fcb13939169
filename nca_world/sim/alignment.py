"""Shape error after best alignment: template matching of an organism against its target.

For an organism image ``O`` (its own cells' RGBA, zero elsewhere) and a target ``T`` of
``h x w`` pixels, the aligned error is::

    min over shifts s (and optionally the 4 right-angle rotations of T) of
        ( sum over the h x w window at s of |O - T|^2  +  sum of |O|^2 outside that window )
        / (4 h w)

i.e. the mean squared RGBA error over the target's frame, with any part of the organism left
outside the frame counted as error. Expanding ``|O - T|^2 = O^2 - 2 O T + T^2``, the organism's
squares inside and outside the window add up to all of them, so the numerator is
``sum |O|^2 - 2 (O * T)(s) + sum |T|^2``: only the cross-correlation ``(O * T)(s)`` depends on the
shift. It comes from the FFT, so every shift costs the same; a `Template` keeps the target's
spectra and ``sum |T|^2``, so aligning many frames costs one forward and one inverse FFT each.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.fft import irfft2, next_fast_len, rfft2

ALIVE = 0.1


@dataclass(frozen=True)
class Aligned:
    """The best alignment: error, IoU of the silhouettes, and the target's top-left corner."""

    error: float
    iou: float
    top: int
    left: int
    rotation: int


class Template:
    """A target prepared for repeated alignment: its spectra are cached per FFT size and turn."""

    def __init__(self, target: np.ndarray, rotations: bool = False) -> None:
        self.turns = [np.ascontiguousarray(np.rot90(target, turn)) for turn in (range(4) if rotations else range(1))]
        self.squares = float((np.asarray(target, np.float64) ** 2).sum())  # sum |T|^2, the same for every turn
        self._spectra: dict[tuple[int, tuple[int, int]], np.ndarray] = {}

    def _spectrum(self, turn: int, shape: tuple[int, int]) -> np.ndarray:
        key = (turn, shape)
        if key not in self._spectra:
            self._spectra[key] = np.conj(rfft2(self.turns[turn], s=shape, axes=(0, 1)))
        return self._spectra[key]

    def align(self, organism: np.ndarray) -> Aligned:
        """Best alignment of `organism` ``(H, W, 4)`` with the target (see the module docstring).

        The organism image is padded by the target's size so the target may hang over its edges;
        the 4 channels' correlations are summed in the frequency domain (one inverse FFT).
        """
        total_o2 = float((organism**2).sum())
        alive_o = organism[..., 3] > ALIVE
        candidates = []
        for turn, t in enumerate(self.turns):
            h, w = t.shape[:2]
            padded = np.zeros((organism.shape[0] + 2 * h, organism.shape[1] + 2 * w, 4), np.float32)
            padded[h:-h, w:-w] = organism
            shape = (next_fast_len(padded.shape[0], real=True), next_fast_len(padded.shape[1], real=True))
            spectrum = rfft2(padded, s=shape, axes=(0, 1))
            cross = irfft2((spectrum * self._spectrum(turn, shape)).sum(axis=2), s=shape)
            cross = cross[: padded.shape[0] - h + 1, : padded.shape[1] - w + 1]
            ssd = total_o2 - 2 * cross + self.squares  # window + outside squares = all of them
            top, left = np.unravel_index(int(np.argmin(ssd)), ssd.shape)
            window = np.pad(alive_o, ((h, h), (w, w)))[top : top + h, left : left + w]
            silhouette = t[..., 3] > ALIVE
            inter = int((window & silhouette).sum())
            union = int(alive_o.sum()) + int(silhouette.sum()) - inter
            error = max(0.0, float(ssd[top, left])) / (4 * h * w)
            candidates.append(Aligned(error, inter / union if union else 0.0, int(top) - h, int(left) - w, turn))
        return min(candidates, key=lambda a: a.error)


def align(organism: np.ndarray, target: np.ndarray, rotations: bool = False) -> Aligned:
    """One-off alignment of `organism` with `target` (use a `Template` to align many)."""
    return Template(target, rotations).align(organism)
