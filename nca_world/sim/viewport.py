"""Where the viewer's window looks: zoom and pan over a world larger than the screen.

The view area shows the world at `zoom` screen pixels a cell: a whole number (each cell a
``zoom x zoom`` square) or ``1/k`` (downsampled by striding: pixel ``j`` shows cell
``j * k + phase``, the cell near the middle of its ``k x k`` block). At every zoom the world is
a picture `world_pixels` big, and `shift` ``(y, x)`` is the pixel of that picture at the view
area's top-left corner. Only the cells the view area shows are rendered (`visible`), and
`cell_at` maps a window position to the cell drawn there with the same arithmetic, so a click
lands on the cell under it at every zoom and shift. Pure geometry: tests use it without a screen.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

# zoom levels the keys and the wheel step through (pixels a cell)
ZOOMS = tuple(Fraction(1, k) for k in (16, 12, 8, 6, 4, 3, 2)) + tuple(Fraction(z) for z in (1, 2, 3, 4, 6, 8, 12,
                                                                                              16, 24, 32, 48, 64))
FIT_MAX = 8  # the fitting zoom of a small world: at most 8 pixels a cell


@dataclass(frozen=True)
class Visible:
    """What the view area shows: cells ``rows`` x ``columns`` (slices, with the stride of a zoom
    below 1), drawn ``scale`` pixels a cell with the first at window pixel ``origin`` ``(y, x)``."""

    rows: slice
    columns: slice
    origin: tuple[int, int]
    scale: int

    @property
    def region(self) -> tuple[int, int, int, int]:
        """``(y0, y1, x0, x1)``: the cells to read (every one, before striding)."""
        return self.rows.start, self.rows.stop, self.columns.start, self.columns.stop

    @property
    def stride(self) -> int:
        return self.rows.step


def as_zoom(zoom: float | Fraction) -> Fraction:
    """`zoom` as a whole number of pixels a cell or ``1/k``; other values are refused."""
    value = Fraction(zoom).limit_denominator(1 << 16)
    if value <= 0 or (value.numerator != 1 and value.denominator != 1):
        raise ValueError(f"zoom: expected a whole number or 1/k, got {zoom}")
    return value


class Viewport:
    """The zoom and shift of a view area ``size`` ``(rows, columns)`` pixels over a ``grid``
    ``(H, W)`` world; the shift is kept so that the world covers the view area where it can
    (a world smaller than the view area sits at its top-left corner)."""

    def __init__(self, grid: tuple[int, int], size: tuple[int, int], zoom: float | Fraction = 1,
                 shift: tuple[int, int] = (0, 0)) -> None:
        self.grid, self.size = grid, size
        self.zoom = as_zoom(zoom)
        self.shift = shift
        self._clamp()

    # ------------------------------------------------------------------ one axis

    @property
    def stride(self) -> int:
        """Cells a pixel: k at zoom 1/k, else 1."""
        return self.zoom.denominator

    @property
    def scale(self) -> int:
        """Pixels a cell: the zoom when it is at least 1, else 1."""
        return self.zoom.numerator if self.zoom.denominator == 1 else 1

    def phase(self, axis: int) -> int:
        """Which cell of each block of `stride` a downsampled pixel shows (the middle one, within the grid)."""
        return min(self.stride // 2, self.grid[axis] - 1)

    def world_pixels(self) -> tuple[int, int]:
        """The size of the world's picture at this zoom, ``(rows, columns)`` pixels."""
        if self.stride == 1:
            return self.grid[0] * self.scale, self.grid[1] * self.scale
        return tuple(-(-(self.grid[a] - self.phase(a)) // self.stride) for a in (0, 1))

    def _cell(self, axis: int, pixel: int) -> int:
        """The cell of the world's picture's `pixel` along `axis`."""
        return pixel // self.scale if self.stride == 1 else pixel * self.stride + self.phase(axis)

    # ------------------------------------------------------------------ the window

    def cell_at(self, position: tuple[int, int]) -> tuple[int, int] | None:
        """The cell ``(y, x)`` drawn at window `position` ``(x, y)``, None off the world or the view area."""
        pixels = self.world_pixels()
        at = []
        for axis, p in ((0, position[1]), (1, position[0])):
            picture = p + self.shift[axis]
            if not (0 <= p < self.size[axis] and 0 <= picture < pixels[axis]):
                return None
            at.append(self._cell(axis, picture))
        return at[0], at[1]

    def visible(self) -> Visible | None:
        """The cells the view area shows and where they go, None when it shows none."""
        pixels = self.world_pixels()
        spans, origin = [], []
        for axis in (0, 1):
            first, last = max(0, self.shift[axis]), min(pixels[axis], self.shift[axis] + self.size[axis])
            if last <= first:
                return None
            if self.stride == 1:
                start, stop = first // self.scale, -(-last // self.scale)
                origin.append(start * self.scale - self.shift[axis])
            else:
                start, stop = self._cell(axis, first), self._cell(axis, last - 1) + 1
                origin.append(first - self.shift[axis])
            spans.append(slice(start, stop, self.stride))
        return Visible(spans[0], spans[1], (origin[0], origin[1]), self.scale)

    def screen_of(self, y: float, x: float) -> tuple[float, float]:
        """The window position ``(x, y)`` of the middle of cell ``(y, x)`` (fractional cells allowed)."""
        out = []
        for axis, c in ((1, x), (0, y)):
            picture = (c + 0.5) * self.scale if self.stride == 1 else (c - self.phase(axis)) / self.stride + 0.5
            out.append(picture - self.shift[axis])
        return out[0], out[1]

    # ------------------------------------------------------------------ changes

    def zooms(self) -> list[Fraction]:
        """The zoom levels offered for this world: down to a world of about 16 pixels a side."""
        most = max(1, max(self.grid) // 16)
        return [z for z in ZOOMS if z.denominator <= most]

    def zoom_to(self, zoom: float | Fraction, around: tuple[int, int] | None = None) -> None:
        """Set the zoom, keeping the cell at window position `around` ``(x, y)`` (default: the
        middle of the view area) where it is."""
        x, y = around if around is not None else (self.size[1] // 2, self.size[0] // 2)
        cy, cx = self._continuous(0, y), self._continuous(1, x)
        self.zoom = as_zoom(zoom)
        shift = []
        for axis, c, p in ((0, cy, y), (1, cx, x)):
            picture = c * self.scale - 0.5 if self.stride == 1 else (c - self.phase(axis) - 0.5) / self.stride
            shift.append(round(picture - p))
        self.shift = (shift[0], shift[1])
        self._clamp()

    def step_zoom(self, by: int, around: tuple[int, int] | None = None) -> None:
        """Zoom in (`by` > 0) or out by that many levels of `zooms`."""
        levels = self.zooms()
        if by > 0:
            higher = [z for z in levels if z > self.zoom]
            target = higher[min(by, len(higher)) - 1] if higher else self.zoom
        else:
            lower = [z for z in levels if z < self.zoom]
            target = lower[-min(-by, len(lower))] if lower else self.zoom
        self.zoom_to(target, around)

    def pan(self, dy: int, dx: int) -> None:
        """Move the view by ``(dy, dx)`` pixels (positive: towards larger y and x)."""
        self.shift = (self.shift[0] + dy, self.shift[1] + dx)
        self._clamp()

    def resize(self, size: tuple[int, int]) -> None:
        """A new view area size ``(rows, columns)``."""
        self.size = (max(1, size[0]), max(1, size[1]))
        self._clamp()

    def fit(self, room: tuple[int, int]) -> Fraction:
        """The largest zoom at which the whole world fits in `room` ``(rows, columns)`` pixels: up to
        `FIT_MAX` pixels a cell, else the smallest ``1/k``."""
        whole = min(room[0] // self.grid[0], room[1] // self.grid[1], FIT_MAX)
        if whole >= 1:
            return Fraction(whole)
        k = 2
        while any(-(-(self.grid[a] - min(k // 2, self.grid[a] - 1)) // k) > room[a] for a in (0, 1)):
            k += 1
        return Fraction(1, k)

    def _continuous(self, axis: int, pixel: int) -> float:
        """The (fractional) cell coordinate under the middle of window pixel `pixel` along `axis`."""
        picture = pixel + self.shift[axis]
        return (picture + 0.5) / self.scale if self.stride == 1 else picture * self.stride + self.phase(axis) + 0.5

    def _clamp(self) -> None:
        pixels = self.world_pixels()
        self.shift = tuple(0 if pixels[a] <= self.size[a] else min(max(0, self.shift[a]), pixels[a] - self.size[a])
                           for a in (0, 1))
