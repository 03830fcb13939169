"""`nca-world snapshot`: pictures of a scenario or a recording at chosen steps, without a screen.

Each panel is the world at one step in one view (`sim.render`), scaled by `zoom` (nearest
neighbour), with each organism's name at its centroid and a status line under it (step, view);
several steps sit side by side in one PNG, for servers and papers.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from nca_world.agents.errors import NcaWorldError
from nca_world.sim.render import render

if TYPE_CHECKING:
    from nca_world.sim.runner import Run
    from nca_world.sim.viewer_sources import LiveSource, ReplaySource

    Source = LiveSource | ReplaySource

STATUS_HEIGHT = 22


def font(size: int) -> ImageFont.ImageFont:
    """Pillow's built-in font at `size` pixels (a bitmap font on old Pillow versions)."""
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has only the fixed bitmap font
        return ImageFont.load_default()


def panel(source: Source, view: str, zoom: int, labels: bool) -> Image.Image:
    """One picture of `source` as it is now: the view, labels and a status line."""
    layers = source.layers()
    if view not in layers.views():
        raise NcaWorldError(f"snapshot: --view: expected one of {layers.views()} for this world, got {view!r}")
    picture = Image.fromarray(render(layers, view))
    height, width = layers.owner.shape
    picture = picture.resize((width * zoom, height * zoom), Image.NEAREST)
    canvas = Image.new("RGB", (picture.width, picture.height + STATUS_HEIGHT), (245, 245, 245))
    canvas.paste(picture, (0, 0))
    draw = ImageDraw.Draw(canvas)
    draw.rectangle((0, 0, picture.width - 1, picture.height - 1), outline=(170, 170, 170))  # the grid's edge
    small = font(12)
    if labels:
        for index, name, cells in source.organisms():
            if not cells:
                continue
            ys, xs = np.nonzero(layers.owner == index)
            at = ((xs.mean() + 0.5) * zoom, (ys.mean() + 0.5) * zoom)
            draw.text(at, name, fill=(0, 0, 0), font=small, anchor="mm", stroke_width=2, stroke_fill=(255, 255, 255))
    living = sum(cells for _, _, cells in source.organisms())
    draw.text((4, picture.height + 4), f"step {source.step}   view {view}   {living} living cells", fill=(20, 20, 20),
              font=small)
    return canvas


def live_to(run: Run, step: int, applied: bool) -> bool:
    """Step a live run to `step` and apply that step's scripted events, as a recorded frame of
    `step` shows them; `applied` says whether the current step's events were applied already."""
    while run.world.step_count < step:
        if not applied:
            run.apply_scripted()
        run.step()
        applied = False
    if not applied:
        run.apply_scripted()
    return True


def check_output(out: Path) -> None:
    """Refuse an output that exists (a snapshot never overwrites) or is not a PNG."""
    if out.exists():
        raise NcaWorldError(f"{out}: already exists (snapshot never overwrites; remove it or choose -o)")
    if out.suffix.lower() != ".png":
        raise NcaWorldError(f"{out}: -o: expected a .png file, got {out.suffix or 'no suffix'}")


def snapshot(source: Source, steps: list[int], out: Path, *, view: str = "rgb", zoom: int = 4,
             labels: bool = True) -> Path:
    """Advance `source` to each of `steps` (ascending) and write the panels side by side to `out`."""
    check_output(out)
    panels = []
    applied = False  # (live) whether the scripted events of the current step were applied
    for step in sorted(steps):
        if step < source.step:
            raise NcaWorldError(f"snapshot: --at: expected steps >= {source.step}, got {step}")
        if hasattr(source, "recording_file"):
            found = np.nonzero(np.asarray(source.recording_file.steps) == step)[0]
            if not len(found):
                raise NcaWorldError(f"snapshot: --at: step {step} has no frame in the recording (frames every "
                                    f"{source.recording_file.file.attrs['every']} steps, up to step "
                                    f"{int(source.recording_file.steps[-1])})")
            source.index = int(found[0])
        else:
            applied = live_to(source.run, step, applied)
        panels.append(panel(source, view, zoom, labels))
    gap = 6
    sheet = Image.new("RGB", (sum(p.width for p in panels) + gap * (len(panels) - 1), panels[0].height), "white")
    left = 0
    for picture in panels:
        sheet.paste(picture, (left, 0))
        left += picture.width + gap
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out)
    return out
