"""Figures, tables on disk and video export for an analysed recording (matplotlib, imageio)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from sim.analysis import DAMAGE_KINDS, Analysis
from sim.recorder import Recording
from sim.render import layers_from_frame, organism_colour, render


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
    return render(layers, view)


def write_tables(analysis: Analysis, folder: Path) -> list[Path]:
    """CSV of every table, and Parquet too when pyarrow is installed."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    parquet = importlib.util.find_spec("pyarrow") is not None
    for name in ("organisms", "contacts", "paper", "regeneration"):
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
    top.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def plot_tracks(analysis: Analysis, recording: Recording, path: Path) -> Path:
    """Centroid tracks over the final frame."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(6, 6 * recording.height / recording.width))
    axis.imshow(frame_image(recording, len(recording) - 1))
    for k, table in analysis.organisms.groupby("organism"):
        colour = np.array(organism_colour(int(k))) / 255
        axis.plot(table.centroid_x, table.centroid_y, color=colour, linewidth=1.5, label=analysis.names[int(k)])
    axis.set_axis_off()
    axis.legend(fontsize=7, loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def montage(analysis: Analysis, recording: Recording, path: Path,
            offsets: tuple[int, ...] = (-1, 0, 20, 50, 100)) -> Path | None:
    """For each damage event, frames at these step offsets around it (one row per event)."""
    plt = _pyplot()
    damage = [r for r in analysis.events if r["event"]["kind"] in DAMAGE_KINDS]
    if not damage:
        return None
    steps = recording.steps
    figure, axes = plt.subplots(len(damage), len(offsets), figsize=(2 * len(offsets), 2 * len(damage)), squeeze=False)
    for row, record in enumerate(damage):
        for column, offset in enumerate(offsets):
            index = int(np.clip(np.searchsorted(steps, record["step"] + offset), 0, len(steps) - 1))
            axes[row, column].imshow(frame_image(recording, index))
            axes[row, column].set_title(f"{record['event']['kind']} {offset:+d}" if column == 0
                                        else f"{offset:+d}", fontsize=8)
            axes[row, column].set_axis_off()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def export_video(recording: Recording, path: Path, view: str = "rgb", fps: int = 30, every: int = 1,
                 scale: int = 2) -> Path:
    """The recording as a GIF or MP4 (by the file's suffix) in any viewer view."""
    import imageio.v2 as imageio

    writer = imageio.get_writer(path, fps=fps) if path.suffix == ".mp4" else imageio.get_writer(path, duration=1 / fps)
    try:
        for index in range(0, len(recording), every):
            image = frame_image(recording, index, view).repeat(scale, axis=0).repeat(scale, axis=1)
            if path.suffix == ".mp4":  # H.264 wants sides in whole 16-pixel blocks: pad with white
                extra = [(-side) % 16 for side in image.shape[:2]]
                image = np.pad(image, ((0, extra[0]), (0, extra[1]), (0, 0)), constant_values=255)
            writer.append_data(image)
    finally:
        writer.close()
    return path
