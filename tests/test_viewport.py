"""The viewer's zoom and pan geometry: the cell a window pixel maps to is the cell drawn there,
at every zoom (whole numbers and 1/k) and shift; zooming keeps the cell under the cursor."""

from fractions import Fraction

import numpy as np
import pytest

from nca_world.sim.viewport import Viewport

CASES = [  # grid, view area size, zoom, shift asked
    ((48, 64), (192, 256), 4, (0, 0)),
    ((48, 64), (100, 90), 3, (5, 7)),
    ((48, 64), (100, 90), 3, (1000, 1000)),  # clamped to the world's far corner
    ((48, 64), (10, 12), Fraction(1, 2), (3, 1)),
    ((47, 65), (9, 11), Fraction(1, 3), (4, 9)),
    ((2048, 2048), (768, 1024), Fraction(1, 2), (200, 13)),
    ((2048, 2048), (768, 1024), 6, (9000, 555)),
    ((5, 7), (100, 100), 2, (3, 3)),  # a world smaller than the view sits at the top-left
]


def drawn(view: Viewport) -> np.ndarray:
    """The window as the viewer draws it, each pixel holding the number of the cell drawn there
    (-1: nothing): the visible cells, scaled, placed at the origin."""
    window = np.full(view.size, -1, np.int64)
    visible = view.visible()
    if visible is None:
        return window
    cells = np.arange(view.grid[0] * view.grid[1]).reshape(view.grid)[visible.rows, visible.columns]
    image = np.repeat(np.repeat(cells, visible.scale, 0), visible.scale, 1)
    top, left = visible.origin
    rows = slice(max(0, top), min(view.size[0], top + image.shape[0]))
    columns = slice(max(0, left), min(view.size[1], left + image.shape[1]))
    window[rows, columns] = image[rows.start - top : rows.stop - top, columns.start - left : columns.stop - left]
    return window


@pytest.mark.parametrize("grid, size, zoom, shift", CASES)
def test_each_pixel_maps_to_the_cell_drawn_there(grid, size, zoom, shift):
    view = Viewport(grid, size, zoom, shift)
    window = drawn(view)
    ys = np.unique(np.linspace(0, size[0] - 1, 40).astype(int))
    xs = np.unique(np.linspace(0, size[1] - 1, 40).astype(int))
    for y in ys:
        for x in xs:
            cell = view.cell_at((x, y))
            assert (-1 if cell is None else cell[0] * grid[1] + cell[1]) == window[y, x], (x, y)
    assert view.cell_at((-1, 0)) is None and view.cell_at((0, size[0])) is None


def test_the_arithmetic_of_a_click_at_zoom_3_and_one_half():
    view = Viewport((48, 64), (100, 90), 3, (5, 7))
    assert view.shift == (5, 7)
    assert view.cell_at((10, 4)) == ((4 + 5) // 3, (10 + 7) // 3) == (3, 5)
    half = Viewport((48, 64), (10, 12), Fraction(1, 2), (3, 1))
    assert half.world_pixels() == (24, 32)
    assert half.cell_at((4, 2)) == ((2 + 3) * 2 + 1, (4 + 1) * 2 + 1) == (11, 11)  # the middle cell of a 2 x 2 block
    clamped = Viewport((48, 64), (100, 90), 3, (1000, 1000))
    assert clamped.shift == (3 * 48 - 100, 3 * 64 - 90)


def test_only_the_cells_in_view_are_rendered_in_a_big_world():
    view = Viewport((2048, 2048), (768, 1024), Fraction(1, 2), (200, 0))
    visible = view.visible()
    assert visible.region == (401, 401 + 2 * 767 + 1, 1, 2 * 1023 + 1 + 1) and visible.stride == 2
    assert len(range(*visible.rows.indices(2048))) == 768 and len(range(*visible.columns.indices(2048))) == 1024
    close = Viewport((2048, 2048), (768, 1024), 4, (4000, 4000))
    visible = close.visible()
    assert (visible.rows.stop - visible.rows.start, visible.columns.stop - visible.columns.start) == (192, 256)
    assert visible.scale == 4 and visible.origin == (0, 0)


@pytest.mark.parametrize("levels", [1, 2, -1, -3, 5])
def test_zooming_keeps_the_cell_under_the_cursor(levels):
    view = Viewport((2048, 2560), (300, 400), 2, (700, 950))  # larger than the view at every level tried
    pointer = (123, 77)
    before = view.cell_at(pointer)
    view.step_zoom(levels, pointer)
    after = view.cell_at(pointer)
    assert view.zoom != 2
    reach = max(1, view.stride)  # below zoom 1, a pixel shows one cell of a block
    assert abs(after[0] - before[0]) <= reach and abs(after[1] - before[1]) <= reach


def test_fit_zoom_levels_and_pan():
    assert Viewport((48, 64), (1, 1)).fit((768, 1024)) == 8
    assert Viewport((2048, 2048), (1, 1)).fit((768, 1024)) == Fraction(1, 3)  # 683 pixels a side
    assert Viewport((700, 700), (1, 1)).fit((768, 1024)) == 1
    assert min(Viewport((48, 64), (1, 1)).zooms()) == Fraction(1, 4)  # about 16 pixels a side at least
    assert min(Viewport((4096, 4096), (1, 1)).zooms()) == Fraction(1, 16)
    view = Viewport((100, 100), (50, 50), 1)
    view.pan(20, -5)
    assert view.shift == (20, 0)
    view.pan(100, 100)
    assert view.shift == (50, 50)
    view.resize((200, 200))
    assert view.shift == (0, 0)  # the whole world fits again
