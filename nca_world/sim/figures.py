"""Figures, tables on disk and video export for an analysed recording (matplotlib, imageio).

`check_outputs` refuses, before any work, what could only fail at the end: an output folder that
is a file, a video format imageio cannot write, a view the recording cannot show.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import numpy as np

from nca_world.agents.errors import NcaWorldError
from nca_world.sim.analysis import DAMAGE_KINDS, Analysis
from nca_world.sim.recording import Recording
from nca_world.sim.render import layers_from_frame, organism_colour, render

VIDEO_SUFFIXES = (".gif", ".mp4")  # GIF through Pillow, MP4 (H.264) through imageio-ffmpeg


class OutputError(NcaWorldError):
    """An output that cannot be written: a folder that is a file, an unknown video format, a view
    the recording lacks."""


def available_views(recording: Recording) -> list[str]:
    """The viewer views the recording's channels can show (`sim.render.VIEWS`)."""
    models = recording.models
    first = next(iter(models.values())).spec
    k = max(rule.spec.identity_channels for rule in models.values())
    blank = np.zeros((1, 1, len(recording.channels)), np.float32)
    return layers_from_frame(blank, recording.channels, np.zeros((1, 1), np.int32), first.channels, k).views()


def check_outputs(recording: Recording, out: Path, video: Path | None, view: str | None) -> None:
    """Refuse (`OutputError`, ``<file>: <field>: expected X, got Y``) an output folder `out` that
    is an existing file, a `video` that is a folder or not a GIF / MP4 (or an MP4 without
    imageio-ffmpeg), and a `view` (if any) the recording's channels cannot show."""
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out}: --out: expected a folder (or a new name), got an existing file")
    if video is not None:
        if video.suffix.lower() not in VIDEO_SUFFIXES:
            raise OutputError(f"{video}: --video: expected a file ending in {' or '.join(VIDEO_SUFFIXES)}, "
                              f"got {video.suffix or 'no suffix'!r}")
        if video.is_dir():
            raise OutputError(f"{video}: --video: expected a file name, got an existing folder")
        if any(parent.exists() and not parent.is_dir() for parent in video.parents):
            raise OutputError(f"{video}: --video: expected a path through folders, got a file on the way")
        if video.suffix.lower() == ".mp4" and importlib.util.find_spec("imageio_ffmpeg") is None:
            raise OutputError(f"{video}: --video: expected imageio-ffmpeg installed for MP4, got none (use .gif)")
    views = available_views(recording)
    if view is not None and view not in views:
        raise OutputError(f"{recording.path}: --view: expected one of {views} (the recorded channels are "
                          f"{recording.channels}), got {view!r}")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def frame_image(recording: Recording, index: int, view: str = "rgb") -> np.ndarray:
    """Frame `index` of `recording` rendered in `view` (``(H, W, 3)`` uint8)."""
    models = recording.models
    first = next(iter(models.values())).spec
    k = max(rule.spec.identity_channels for rule in models.values())
    layers = layers_from_frame(recording.frame(index), recording.channels, recording.owner(index), first.channels, k)
    walls = recording.walls(index)
    return render(dataclasses.replace(layers, walls=walls if walls.any() else None), view)


def write_tables(analysis: Analysis, folder: Path) -> list[Path]:
    """CSV of every table, and Parquet too when pyarrow is installed."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    parquet = importlib.util.find_spec("pyarrow") is not None
    for name in ("organisms", "contacts", "paper", "regeneration", "takeovers", "lineage", "body_shares"):
        table = getattr(analysis, name)
        written.append(folder / f"{name}.csv")
        table.to_csv(written[-1], index=False)
        if parquet:
            written.append(folder / f"{name}.parquet")
            table.to_parquet(written[-1], index=False)
    return written


def _event_marks(axis, analysis: Analysis) -> None:
    for record in analysis.events:
        if record["event"]["kind"] in DAMAGE_KINDS:
            axis.axvline(record["step"], color="red", alpha=0.4, linewidth=1)
        elif record["event"]["kind"] == "move":
            axis.axvline(record["step"], color="grey", alpha=0.4, linewidth=1, linestyle="--")


def plot_timeseries(analysis: Analysis, path: Path) -> Path:
    """Aligned shape error and mass over time, one line per organism, damage marked in red."""
    plt = _pyplot()
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    for k, table in analysis.organisms.groupby("organism"):
        colour = np.array(organism_colour(int(k))) / 255
        top.plot(table.step, table.shape_error, color=colour, label=analysis.names[int(k)])
        bottom.plot(table.step, table.mass, color=colour)
    for axis in (top, bottom):
        _event_marks(axis, analysis)
    top.set_ylabel("aligned RGBA error")
    bottom.set_ylabel("mass (sum of alpha)")
    bottom.set_xlabel("step")
    if not analysis.organisms.empty:
        top.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def plot_tracks(analysis: Analysis, recording: Recording, path: Path) -> Path:
    """Centroid tracks over the final frame."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(6, 6 * recording.height / recording.width))
    if len(recording):
        axis.imshow(frame_image(recording, len(recording) - 1))
    for k, table in analysis.organisms.groupby("organism"):
        colour = np.array(organism_colour(int(k))) / 255
        ys, xs = table.centroid_y.to_numpy(float), table.centroid_x.to_numpy(float)
        if analysis.wrap:  # no line across the grid where a track leaves one edge and comes in at the other
            jumps = (np.abs(np.diff(ys)) > recording.height / 2) | (np.abs(np.diff(xs)) > recording.width / 2)
            ys, xs = np.insert(ys, np.nonzero(jumps)[0] + 1, np.nan), np.insert(xs, np.nonzero(jumps)[0] + 1, np.nan)
        axis.plot(xs, ys, color=colour, linewidth=1.5, label=analysis.names[int(k)])
    axis.set_axis_off()
    if not analysis.organisms.empty:
        axis.legend(fontsize=7, loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def montage_index(steps: np.ndarray, event_step: int, offset: int) -> int:
    """The frame shown `offset` steps from an event: for a negative offset the last frame before
    ``event_step + offset + 1`` (so "-1" is the true state before the event, whatever
    ``record.every``), else the first frame at or after ``event_step + offset``."""
    if offset < 0:
        return int(np.clip(np.searchsorted(steps, event_step + offset, side="right") - 1, 0, len(steps) - 1))
    return int(np.clip(np.searchsorted(steps, event_step + offset), 0, len(steps) - 1))


def damaged_box(recording: Recording, indices: list[int], organisms: list[int], margin: int = 4) -> tuple[slice, slice]:
    """The rows and columns holding `organisms`' cells in any of the frames `indices`, with a
    margin (the whole grid when they hold none)."""
    cells = np.zeros((recording.height, recording.width), bool)
    for index in indices:
        cells |= np.isin(recording.owner(index), organisms)
    if not organisms or not cells.any():
        return slice(None), slice(None)
    rows, columns = np.nonzero(cells.any(axis=1))[0], np.nonzero(cells.any(axis=0))[0]
    return (slice(max(0, rows[0] - margin), rows[-1] + margin + 1),
            slice(max(0, columns[0] - margin), columns[-1] + margin + 1))


def montage(analysis: Analysis, recording: Recording, path: Path,
            offsets: tuple[int, ...] = (-1, 0, 20, 50, 100)) -> Path | None:
    """For each damage episode, frames at these step offsets around it (one row per event),
    cropped to the organisms it damaged, rows and columns labelled."""
    plt = _pyplot()
    episodes = analysis.regeneration.drop_duplicates(subset=["step", "kind"])
    if episodes.empty or not len(recording):
        return None
    steps = np.asarray(recording.steps)
    figure, axes = plt.subplots(len(episodes), len(offsets), figsize=(2 * len(offsets), 2.2 * len(episodes)),
                                squeeze=False)
    for row, episode in enumerate(episodes.itertuples()):
        damaged = sorted(int(k) for k in analysis.regeneration[analysis.regeneration.step == episode.step].organism)
        indices = [montage_index(steps, int(episode.step), offset) for offset in offsets]
        box = damaged_box(recording, indices, damaged)
        names = ", ".join(analysis.names.get(k, str(k)) for k in damaged)
        for column, (offset, index) in enumerate(zip(offsets, indices, strict=True)):
            axis = axes[row, column]
            axis.imshow(frame_image(recording, index)[box])
            axis.set_xticks([])
            axis.set_yticks([])
            axis.set_title(f"{offset:+d} (step {int(steps[index])})", fontsize=8)
            if column == 0:
                axis.set_ylabel(f"{episode.kind} at {episode.step}\n{names}", fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def tree_layout(parents: dict[int, int]) -> dict[int, float]:
    """A row for each organism of a lineage (`parents`: organism -> parent, 0 for a root): depth
    first from the roots in order of their numbers, so each family is drawn together, a parent
    in the middle of its children's rows."""
    children: dict[int, list[int]] = {}
    for k in sorted(parents):
        children.setdefault(parents[k], []).append(k)
    rows: dict[int, float] = {}
    leaves = [0]  # rows taken by organisms without children so far

    def place(k: int) -> float:
        below = [place(c) for c in children.get(k, [])]
        if below:
            rows[k] = float(np.mean(below))
        else:
            rows[k], leaves[0] = float(leaves[0]), leaves[0] + 1
        return rows[k]

    for root in children.get(0, []):
        place(root)
    return rows


def plot_lineage(analysis: Analysis, path: Path) -> Path | None:
    """The fission tree: each organism a line from the step it appears to its last living frame,
    each split a connector from the parent to its children (labelled with their names and
    starting cells). None when nothing split."""
    if analysis.lineage.empty:
        return None
    plt = _pyplot()
    parents = {k: 0 for k in analysis.names}
    parents.update({int(r.child_index): int(r.parent_index) for r in analysis.lineage.itertuples()})
    rows = tree_layout(parents)
    table = analysis.organisms
    alive = table[table.alive.fillna(0) > 0].groupby("organism").step
    first, last = alive.min(), alive.max()
    born = {int(r.child_index): (int(r.step), int(r.cells)) for r in analysis.lineage.itertuples()}
    figure, axis = plt.subplots(figsize=(8, 1.5 + 0.6 * len(rows)))
    for k, row in rows.items():
        colour = np.array(organism_colour(k)) / 255
        start = born[k][0] if k in born else int(first.get(k, table.step.min()))
        axis.plot([start, int(last.get(k, start))], [row, row], color=colour, linewidth=3, solid_capstyle="butt")
        label = analysis.names.get(k, str(k)) + (f" ({born[k][1]} cells at the split)" if k in born else "")
        axis.text(start + 2, row - 0.12, label, fontsize=8, va="bottom")
    for r in analysis.lineage.itertuples():
        axis.plot([r.step, r.step], [rows[int(r.parent_index)], rows[int(r.child_index)]], color="grey",
                  linewidth=1)
    axis.margins(y=0.25)
    axis.set_yticks([])
    axis.invert_yaxis()
    axis.set_xlabel("step")
    axis.set_title("lineage (fission)")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def plot_body_shares(analysis: Analysis, path: Path) -> Path | None:
    """Per takeover, each owner's share of the original body over time (stacked). None without one."""
    shares = analysis.body_shares
    if shares.empty:
        return None
    plt = _pyplot()
    groups = list(shares.groupby(["convert_step", "source"], sort=False))
    figure, axes = plt.subplots(len(groups), 1, figsize=(8, 3 * len(groups)), squeeze=False)
    for axis, ((step, source), table) in zip(axes[:, 0], groups, strict=True):
        wide = table.pivot_table(index="step", columns="organism", values="share", aggfunc="first", fill_value=0.0)
        colours = [np.array(organism_colour(int(k))) / 255 if k else (0.85, 0.85, 0.85) for k in wide.columns]
        labels = [analysis.names.get(int(k), "nobody") if k else "nobody" for k in wide.columns]
        axis.stackplot(wide.index, wide.to_numpy().T, colors=colours, labels=labels)
        axis.set_ylim(0, 1)
        axis.set_ylabel("share of the body")
        axis.set_title(f"takeover of {source} at step {step} ({int(table.body_cells.iloc[0])} cells)", fontsize=9)
        axis.legend(fontsize=7, loc="upper right")
    axes[-1, 0].set_xlabel("step")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def with_step(image: np.ndarray, step: int) -> np.ndarray:
    """`image` with a white band under it that reads ``step N``."""
    from PIL import Image, ImageDraw

    from nca_world.sim.snapshot import font

    band = Image.new("RGB", (image.shape[1], 16), (255, 255, 255))
    ImageDraw.Draw(band).text((3, 2), f"step {step}", fill=(20, 20, 20), font=font(11))
    return np.concatenate([image, np.asarray(band)], axis=0)


def export_video(recording: Recording, path: Path, view: str = "rgb", fps: int = 30, every: int = 1,
                 scale: int = 2) -> Path:
    """The recording as a GIF or MP4 (by the file's suffix, `VIDEO_SUFFIXES`) in any viewer view,
    each frame `scale` pixels per cell with its step counter under it.

    A GIF's frames last ``1000 / fps`` ms (imageio's Pillow writer takes milliseconds; GIF stores
    hundredths of a second) and it loops.
    """
    import imageio.v2 as imageio

    mp4 = path.suffix.lower() == ".mp4"
    writer = imageio.get_writer(path, fps=fps) if mp4 else imageio.get_writer(path, duration=1000 / fps, loop=0)
    try:
        for index in range(0, len(recording), every):
            image = frame_image(recording, index, view).repeat(scale, axis=0).repeat(scale, axis=1)
            image = with_step(image, int(recording.steps[index]))
            if mp4:  # H.264 wants sides in whole 16-pixel blocks: pad with white
                extra = [(-side) % 16 for side in image.shape[:2]]
                image = np.pad(image, ((0, extra[0]), (0, extra[1]), (0, 0)), constant_values=255)
            writer.append_data(image)
    finally:
        writer.close()
    return path
