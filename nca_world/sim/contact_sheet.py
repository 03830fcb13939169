"""`nca-world models --sheet`: a contact sheet of models, each grown alone from its seed.

Each model grows in the numba core (`sim.world.World`) for a fixed number of steps on a grid
twice its training size (its target's side, else `UNTRAINED_SIZE`), with the first identity it
was trained with (`sim.stability.supported_identities`). Every tile is scaled to the same size
and labelled with the model's name, channel count and identity value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from nca_world.agents.errors import NcaWorldError
from nca_world.agents.spec import Rule
from nca_world.sim.render import render
from nca_world.sim.snapshot import font
from nca_world.sim.stability import supported_identities
from nca_world.sim.world import World

UNTRAINED_SIZE = 36  # the side of a model without a stored target (the demo models' 72-cell grid / 2)
TILE = 160  # pixels of a tile's picture
LABEL_HEIGHT = 34
COLUMNS = 6
GAP = 6


def check_output(out: Path, overwrite: bool) -> None:
    """Refuse an output that is not a PNG, and an existing one unless `overwrite`."""
    if out.suffix.lower() != ".png":
        raise NcaWorldError(f"{out}: --sheet: expected a .png file, got {out.suffix or 'no suffix'}")
    if out.is_dir():
        raise NcaWorldError(f"{out}: --sheet: expected a file, got a folder")
    if out.exists() and not overwrite:
        raise NcaWorldError(f"{out}: already exists (the sheet never overwrites without --overwrite)")


def grow(rule: Rule, steps: int, seed: int = 0) -> tuple[np.ndarray, list[float]]:
    """The ``(S, S, 3)`` uint8 picture of one organism of `rule` grown alone for `steps` steps from
    its seed at the centre of a grid twice its training size, and the identity it was given."""
    size = rule.target.shape[-3] if rule.target is not None else UNTRAINED_SIZE
    side = 2 * size
    identity = supported_identities(rule)[0][0]
    world = World(side, side, species={"model": rule}, seed=seed)
    world.spawn("alone", "model", (side // 2, side // 2), identity=identity or None)
    world.step(steps)
    return render(world.layers(), "rgb"), identity


def tile(name: str, rule: Rule, steps: int) -> Image.Image:
    """One labelled tile: the grown organism, its name, channels and identity value."""
    picture, identity = grow(rule, steps)
    image = Image.fromarray(picture).resize((TILE, TILE), Image.NEAREST)
    canvas = Image.new("RGB", (TILE, TILE + LABEL_HEIGHT), (245, 245, 245))
    canvas.paste(image, (0, 0))
    draw = ImageDraw.Draw(canvas)
    draw.rectangle((0, 0, TILE - 1, TILE - 1), outline=(170, 170, 170))
    shown = ", ".join(f"{v:g}" for v in identity) if identity else "none"
    draw.text((4, TILE + 2), name[:26], fill=(0, 0, 0), font=font(12))
    draw.text((4, TILE + 18), f"C={rule.spec.channels}  identity {shown}", fill=(60, 60, 60), font=font(11))
    return canvas


def contact_sheet(models: Sequence[tuple[str, Rule]], out: Path, *, steps: int = 200,
                  overwrite: bool = False) -> Path:
    """Write one tile per model (in order, `COLUMNS` a row) to `out` and return it."""
    check_output(out, overwrite)
    if not models:
        raise NcaWorldError(f"{out}: --sheet: expected at least one model, got none")
    tiles = [tile(name, rule, steps) for name, rule in models]
    columns = min(COLUMNS, len(tiles))
    rows = math.ceil(len(tiles) / columns)
    width, height = tiles[0].size
    sheet = Image.new("RGB", (columns * width + (columns - 1) * GAP, rows * height + (rows - 1) * GAP), "white")
    for i, picture in enumerate(tiles):
        sheet.paste(picture, ((i % columns) * (width + GAP), (i // columns) * (height + GAP)))
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out)
    return out
