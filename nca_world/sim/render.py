"""Turning a world or a recorded frame into an RGB image: pure functions, no window.

Used by the viewer, screenshots and video export. Every function returns ``(H, W, 3)`` uint8.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

VIEWS = ("rgb", "alpha", "identity", "owner", "hidden")
BACKGROUND = (255, 255, 255)
WALL_COLOUR = (47, 54, 74)  # slate: darker than any organism colour, in every view
# well separated, colour-blind friendly organism colours (Okabe and Ito), then repeated darker
PALETTE = np.array([
    (230, 159, 0), (86, 180, 233), (0, 158, 115), (240, 228, 66), (0, 114, 178), (213, 94, 0),
    (204, 121, 167), (100, 100, 100), (153, 102, 0), (51, 117, 153),
], dtype=np.uint8)


def organism_colour(index: int) -> tuple[int, int, int]:
    """The display colour of organism `index` (1-based)."""
    base = PALETTE[(index - 1) % len(PALETTE)].astype(np.int32)
    darker = (index - 1) // len(PALETTE)
    return tuple(int(v) for v in np.clip(base * (0.75**darker), 0, 255))


@dataclass(frozen=True)
class Layers:
    """What an image is made from: named state channels ``(H, W)`` and the owner map."""

    rgba: np.ndarray | None  # (H, W, 4) premultiplied
    identity: np.ndarray | None  # (H, W, K)
    owner: np.ndarray
    hidden: dict[int, np.ndarray]  # channel number -> (H, W)
    without_identity: frozenset[int] = frozenset()  # organisms whose species has no identity channel
    walls: np.ndarray | None = None  # bool (H, W), None: no walls

    def views(self) -> list[str]:
        """The views these layers can show."""
        out = ["rgb", "alpha"] if self.rgba is not None else []
        if self.identity is not None and self.identity.shape[2]:
            out.append("identity")
        out.append("owner")
        if self.hidden:
            out.append("hidden")
        return out


def crop(layers: Layers, rows: slice, columns: slice) -> Layers:
    """The layers of the cells ``rows`` x ``columns`` (slices, a step downsamples): views, no copy."""

    def part(array: np.ndarray | None) -> np.ndarray | None:
        return None if array is None else array[rows, columns]

    return Layers(part(layers.rgba), part(layers.identity), layers.owner[rows, columns],
                  {c: plane[rows, columns] for c, plane in layers.hidden.items()}, layers.without_identity,
                  part(layers.walls))


def layers_from_state(state: np.ndarray, owner: np.ndarray, identity_channels: int) -> Layers:
    """Layers of a full ``(H, W, C)`` state."""
    channels = state.shape[2]
    first_identity = channels - identity_channels
    return Layers(state[..., :4], state[..., first_identity:], owner,
                  {c: state[..., c] for c in range(4, first_identity)})


def layers_from_frame(frame: np.ndarray, channels: list[int], owner: np.ndarray, state_channels: int,
                      identity_channels: int) -> Layers:
    """Layers of a recorded frame holding state channels `channels` (in that order)."""
    column = {c: i for i, c in enumerate(channels)}
    rgba = frame[..., [column[c] for c in range(4)]] if all(c in column for c in range(4)) else None
    identity_range = range(state_channels - identity_channels, state_channels)
    identity = (frame[..., [column[c] for c in identity_range]]
                if identity_channels and all(c in column for c in identity_range) else None)
    hidden = {c: frame[..., column[c]] for c in range(4, state_channels - identity_channels) if c in column}
    return Layers(rgba, identity, owner, hidden)


@numba.njit(cache=True, nogil=True)
def _over_white(rgba, out):
    """``out[y, x, c] = rint(255 * clip(1 - a + rgb_c))`` with ``rgba`` clipped to [0, 1] first, in
    float32 as numpy computes it (one pass, any strides: numpy's five passes over a strided view
    took 35 ms for a 1000 x 1800 window)."""
    zero, one, full = np.float32(0.0), np.float32(1.0), np.float32(255.0)
    for y in range(rgba.shape[0]):
        for x in range(rgba.shape[1]):
            a = min(max(rgba[y, x, 3], zero), one)
            for c in range(3):
                value = (one - a) + min(max(rgba[y, x, c], zero), one)
                out[y, x, c] = np.uint8(np.rint(min(max(value, zero), one) * full))


def rgb_over_white(rgba: np.ndarray) -> np.ndarray:
    """Premultiplied RGBA composited over white, as in Growing NCA: ``1 - a + rgb``."""
    out = np.empty((*rgba.shape[:-1], 3), np.uint8)
    if rgba.dtype == np.float32 and rgba.ndim == 3 and out.size:
        _over_white(rgba, out)
        return out
    rgba = np.clip(rgba, 0.0, 1.0)
    return _bytes(1.0 - rgba[..., 3:4] + rgba[..., :3])


def grey(values: np.ndarray, low: float = 0.0, high: float = 1.0) -> np.ndarray:
    """Values mapped linearly from [low, high] to black..white."""
    scaled = (np.asarray(values, np.float32) - low) / (high - low)
    return _bytes(np.repeat(scaled[..., None], 3, axis=2))


IDENTITY_ABSENT = (170, 170, 170)  # cells of species without identity channels, in the identity view


def identity_ramp(values: np.ndarray) -> np.ndarray:
    """One identity channel's colours: blue (0) through green (0.5) to red (1), as ``(..., 3)`` floats."""
    v = np.clip(np.asarray(values, np.float32), 0.0, 1.0)
    return np.stack([v, 0.2 + 0.6 * (1 - np.abs(2 * v - 1)), 1.0 - v], axis=-1)


def identity_colours(identity: np.ndarray, owner: np.ndarray, without: frozenset[int] = frozenset()) -> np.ndarray:
    """Identity channels in colour: one channel as `identity_ramp`, two or three as RGB; cells
    nobody owns are white, cells of organisms in `without` (no identity channel) grey."""
    k = identity.shape[2]
    if k == 1:
        colour = identity_ramp(identity[..., 0])
    else:
        colour = np.zeros((*identity.shape[:2], 3), np.float32)
        colour[..., : min(k, 3)] = identity[..., :3]
    image = _bytes(colour)
    if without:
        image[np.isin(owner, list(without))] = IDENTITY_ABSENT
    image[owner == 0] = BACKGROUND
    return image


def owner_colours(owner: np.ndarray) -> np.ndarray:
    """Each organism's cells in its colour (`organism_colour`), white elsewhere."""
    table = np.array([BACKGROUND] + [organism_colour(k) for k in range(1, int(owner.max(initial=0)) + 1)],
                     np.uint8)
    return table[owner]


def render(layers: Layers, view: str = "rgb", hidden_channel: int | None = None) -> np.ndarray:
    """One view of `layers` as ``(H, W, 3)`` uint8 (see `VIEWS`), walls in `WALL_COLOUR`."""
    image = _view(layers, view, hidden_channel)
    if layers.walls is not None and layers.walls.any():
        image = image.copy()
        image[layers.walls] = WALL_COLOUR
    return image


def _view(layers: Layers, view: str, hidden_channel: int | None) -> np.ndarray:
    if view == "rgb" and layers.rgba is not None:
        return rgb_over_white(layers.rgba)
    if view == "alpha" and layers.rgba is not None:
        return grey(1.0 - layers.rgba[..., 3])
    if view == "identity" and layers.identity is not None:
        return identity_colours(layers.identity, layers.owner, layers.without_identity)
    if view == "owner":
        return owner_colours(layers.owner)
    if view == "hidden" and layers.hidden:
        channel = hidden_channel if hidden_channel in layers.hidden else min(layers.hidden)
        return grey(layers.hidden[channel], -1.0, 1.0)
    raise ValueError(f"view {view!r} is not available here (have {layers.views()})")


def _bytes(values: np.ndarray) -> np.ndarray:
    return np.rint(np.clip(values, 0.0, 1.0) * 255.0).astype(np.uint8)
