"""The model picker's panel in the viewer window: where its rows are, and how it is painted.

The panel lies over the right edge of the grid: a header, then one row per library model (a
thumbnail, the name, the channel count or why it does not fit, greyed out). Pure geometry
(`row_at`) is kept apart from painting (`draw`), so tests click rows without reading pixels.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nca_world.sim.picker import THUMB, Picker

WIDTH = 240
HEADER = 22
ROW = THUMB + 6
CHOSEN = (30, 90, 200)
GREYED = (150, 150, 150)


def left(surface_width: int) -> int:
    """The panel's left edge in a window `surface_width` pixels wide."""
    return max(0, surface_width - WIDTH)


def visible_rows(height: int) -> int:
    """How many rows fit a panel `height` pixels high (at least one)."""
    return max(1, (height - HEADER) // ROW)


def row_at(picker: Picker, position: tuple[int, int], surface_width: int, height: int) -> int | None:
    """The index of the model whose row is under a window `position`, or None."""
    x, y = position
    if x < left(surface_width) or not HEADER <= y < height:
        return None
    index = picker.scroll + (y - HEADER) // ROW
    return index if (y - HEADER) // ROW < visible_rows(height) and index < len(picker.choices) else None


def inside(position: tuple[int, int], surface_width: int, height: int) -> bool:
    """Whether a window `position` lies on the panel."""
    return position[0] >= left(surface_width) and position[1] < height


def scroll(picker: Picker, by: int, height: int) -> None:
    """Scroll the rows by `by` (wheel steps; negative: down), within the list."""
    last = max(0, len(picker.choices) - visible_rows(height))
    picker.scroll = min(last, max(0, picker.scroll - by))


def draw(pg: Any, surface: Any, font: Any, picker: Picker, height: int) -> None:
    """Paint the panel onto `surface` (its top `height` pixels: the grid)."""
    x0 = left(surface.get_width())
    box = pg.Surface((min(WIDTH, surface.get_width()), height), pg.SRCALPHA)
    box.fill((250, 250, 250, 235))
    surface.blit(box, (x0, 0))
    pg.draw.line(surface, (160, 160, 160), (x0, 0), (x0, height))
    fitting = sum(choice.fits for choice in picker.choices)
    more = len(picker.choices) > visible_rows(height)
    title = f"models: {fitting} of {len(picker.choices)} fit (m closes{', wheel scrolls' if more else ''})"
    surface.blit(font.render(title, True, (20, 20, 20)), (x0 + 6, 4))
    shown = picker.choices[picker.scroll : picker.scroll + visible_rows(height)]
    for row, choice in enumerate(shown):
        top = HEADER + row * ROW
        picture = picker.thumbnails.get(choice.name)
        if picture is not None:
            if not choice.fits:
                picture = np.uint8(255 - (255 - picture.astype(np.int16)) * 0.35)  # faded towards white
            surface.blit(pg.surfarray.make_surface(np.ascontiguousarray(picture.transpose(1, 0, 2))), (x0 + 4, top + 3))
        else:
            pg.draw.rect(surface, (225, 225, 225), (x0 + 4, top + 3, THUMB, THUMB))
        colour = (20, 20, 20) if choice.fits else GREYED
        surface.blit(font.render(choice.name[:24], True, colour), (x0 + THUMB + 10, top + 6))
        detail = f"C={choice.rule.spec.channels}" if choice.fits and choice.rule else str(choice.reason)
        surface.blit(font.render(detail[:30], True, colour), (x0 + THUMB + 10, top + 24))
        if picker.chosen is not None and picker.chosen.name == choice.name:
            pg.draw.rect(surface, CHOSEN, (x0 + 1, top, WIDTH - 2, ROW), 2)
