"""How organisms meet: who senses whom, the contested-cell rule, and wall shapes.

- ``senses`` levels, for an ordered pair of organisms ``(k, j)`` of species ``(a, b)`` under the
  level ``L`` set for the species pair ``{a, b}`` (or the world default): k senses j when
  ``k == j`` (a cell always reads its own organism), or ``L == "all"``, or ``L == "own_species"``
  and ``a == b``. ``"self"``: only its own organism. A cell reads the cells of organisms it does
  not sense as zero in every channel; unowned cells read as they are.
- ``contest``: ``"strongest"`` (a newborn cell goes to its strongest owned neighbour) or
  ``"buffer"`` (a newborn that would border another organism's cell, or another organism's
  newborn, stays empty; see `sim.core`).
- Wall shapes (scenario ``[[walls]]`` and the ``add_walls`` / ``remove_walls`` events): a rect,
  a circle, a line with a width, or (``[[walls]]`` only) a PNG mask scaled to the grid.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

SENSES = ("all", "own_species", "self")
CONTESTS = ("strongest", "buffer")


def sensed_matrix(species_of: Sequence[str], default: str,
                  pairs: Mapping[frozenset[str], str]) -> np.ndarray:
    """uint8 ``(N + 1, N + 1)``: ``[k, j] = 1`` when organism k senses organism j (see the module
    docstring); `species_of[k - 1]` is organism k's species, row and column 0 ("nobody") are 1."""
    n = len(species_of)
    sensed = np.ones((n + 1, n + 1), np.uint8)
    for k in range(1, n + 1):
        for j in range(1, n + 1):
            a, b = species_of[k - 1], species_of[j - 1]
            level = pairs.get(frozenset((a, b)), default)
            sensed[k, j] = k == j or level == "all" or (level == "own_species" and a == b)
    return sensed


def png_mask(path: Path, height: int, width: int, threshold: int = 128) -> np.ndarray:
    """Bool ``(height, width)``: the PNG at `path` scaled to the grid (nearest neighbour), true
    where its luminance is below `threshold` (dark = wall) and it is opaque (alpha >= 128).

    Raises `OSError` / `ValueError` (PIL's) when the file is missing or not an image."""
    from PIL import Image

    with Image.open(path) as image:
        rgba = image.convert("RGBA").resize((width, height), Image.Resampling.NEAREST)
    pixels = np.asarray(rgba)
    luminance = np.asarray(rgba.convert("L"))
    return (luminance < threshold) & (pixels[:, :, 3] >= 128)


def shape_mask(shape: object, height: int, width: int, wrap: bool, origin: Path | None = None) -> np.ndarray:
    """Bool ``(height, width)``: the cells of a wall shape (`sim.scenario_sections` ``WallShape``); a PNG's
    path is taken relative to `origin` (the scenario's folder)."""
    from nca_world.sim.events import circle_mask, line_mask, rect_mask

    kind = shape.shape  # type: ignore[attr-defined]
    if kind == "rect":
        return rect_mask(height, width, shape.top_left, shape.size, wrap)  # type: ignore[attr-defined]
    if kind == "circle":
        return circle_mask(height, width, shape.center, shape.radius, wrap)  # type: ignore[attr-defined]
    if kind == "line":
        thickness = 1.0 if shape.width is None else shape.width  # type: ignore[attr-defined]
        return line_mask(height, width, shape.start, shape.end, thickness, wrap)  # type: ignore[attr-defined]
    path = Path(shape.path)  # type: ignore[attr-defined]
    return png_mask(path if origin is None or path.is_absolute() else origin / path, height, width)
