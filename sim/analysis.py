"""Offline analysis of a recording: per-organism measures from the exact owner map.

Frames are read in chunks, so memory does not grow with the recording's length. Tables:

- ``organisms``: per frame and organism: alive cells, mass, centroid and its velocity, bounding
  box, shape error after best alignment with its species' target, IoU with the aligned
  silhouette, identity purity, debris cells, and the flags collapsed / exploded / debris;
- ``contacts``: per frame and pair of organisms, the length of their shared border (cell edges);
- ``paper``: per frame, the identity paper's measures (Stovold 2025): RGBA MSE against the
  "ideal" image (each target pasted at its organism's seed cell, summed, clipped) and the
  bounding box of all living cells with its shift;
- ``regeneration``: per damage event and organism it hit, the error before, the steps until
  the aligned error is back within tolerance, and the error it settles at.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage

from sim.alignment import ALIVE, Template
from sim.recorder import Recording, open_recording

DAMAGE_KINDS = ("cut_circle", "cut_rect", "cut_line", "kill_fraction", "noise")
EXPLOSION_FACTOR = 3.0  # an organism over 3x its target's living area has exploded
DEBRIS_MIN = 5  # living cells cut off from the body that count as debris
REGROWTH_TOLERANCE = 0.25  # back within 25% (relative) of the pre-damage error, or 0.002 absolute
CHUNK = 64
EIGHT_NEIGHBOURS = np.ones((3, 3), bool)  # a cell touching the body by a corner is not debris


@dataclass
class Analysis:
    """The tables of one recording (see the module docstring)."""

    organisms: pd.DataFrame
    contacts: pd.DataFrame
    paper: pd.DataFrame
    regeneration: pd.DataFrame
    names: dict[int, str]
    events: list[dict]

    def summary(self) -> str:
        """A few lines for the terminal."""
        last = self.organisms[self.organisms.step == self.organisms.step.max()]
        lines = [f"{'organism':16} {'alive':>7} {'error':>8} {'iou':>6} {'moved':>7}  flags"]
        for row in last.itertuples():
            track = self.organisms[self.organisms.organism == row.organism].dropna(subset=["centroid_y"])
            moved = float(np.hypot(*(track[["centroid_y", "centroid_x"]].iloc[-1]
                                     - track[["centroid_y", "centroid_x"]].iloc[0]))) if len(track) else 0.0
            flags = [f for f in ("collapsed", "exploded", "debris") if getattr(row, f)]
            lines.append(f"{row.name:16} {row.alive:7d} {row.shape_error:8.4f} {row.iou:6.2f} {moved:7.1f}  "
                         f"{', '.join(flags) or '-'}")
        for row in self.regeneration.itertuples():
            regrown = "not regrown" if np.isnan(row.regrowth_steps) else f"regrown in {row.regrowth_steps:.0f} steps"
            lines.append(f"{row.kind} at step {row.step} on {row.name}: error {row.error_before:.4f} -> "
                         f"{regrown}, settles at {row.settled_error:.4f}")
        return "\n".join(lines)


def placed_target(target: np.ndarray, centre: tuple[int, int], shape: tuple[int, int]) -> np.ndarray:
    """`target` pasted into an empty ``shape`` image with its centre pixel at `centre` (clipped)."""
    h, w = target.shape[:2]
    out = np.zeros((*shape, 4), np.float32)
    top, left = centre[0] - h // 2, centre[1] - w // 2
    ys, xs = slice(max(0, top), min(shape[0], top + h)), slice(max(0, left), min(shape[1], left + w))
    out[ys, xs] = target[ys.start - top : ys.stop - top, xs.start - left : xs.stop - left]
    return out


def contact_lengths(owner: np.ndarray) -> dict[tuple[int, int], int]:
    """Cell edges shared by each pair of organisms ``(k, j)``, ``k < j``."""
    pairs = np.concatenate([np.stack([owner[:, :-1].ravel(), owner[:, 1:].ravel()]),
                            np.stack([owner[:-1].ravel(), owner[1:].ravel()])], axis=1)
    pairs = pairs[:, (pairs[0] > 0) & (pairs[1] > 0) & (pairs[0] != pairs[1])]
    low, high = np.minimum(pairs[0], pairs[1]), np.maximum(pairs[0], pairs[1])
    keys, counts = np.unique(low.astype(np.int64) << 32 | high, return_counts=True)
    return {(int(k >> 32), int(k & 0xFFFFFFFF)): int(n) for k, n in zip(keys, counts, strict=True)}


class _Context:
    """What the per-frame measures need from the recording."""

    def __init__(self, recording: Recording, rotations: bool) -> None:
        self.recording = recording
        self.models = recording.models
        self.events = recording.events
        spawns = [r for r in self.events if r["event"]["kind"] == "spawn"]
        self.names = {r["effect"]["index"]: r["event"]["name"] for r in spawns}
        self.species = {r["effect"]["index"]: r["event"]["species"] for r in spawns}
        self.seed_cells = {r["effect"]["index"]: tuple(r["event"]["position"]) for r in spawns}
        identity = {r["effect"]["index"]: r["event"].get("identity") for r in spawns}
        if len(recording.keyframe_steps):  # organisms planted before the recording started
            for organism in recording.keyframe(0).organisms:
                self.names.setdefault(organism.index, organism.name)
                self.species.setdefault(organism.index, organism.species)
                self.seed_cells.setdefault(organism.index, organism.seed_cell)
                identity.setdefault(organism.index, list(organism.identity) or None)
        self.identity = {k: (np.atleast_1d(np.asarray(v, np.float32)) if v is not None else None)
                         for k, v in identity.items()}
        self.channels = recording.channels
        first = next(iter(self.models.values())).spec
        k = max(rule.spec.identity_channels for rule in self.models.values())
        self.identity_columns = [self.channels.index(c) for c in range(first.channels - k, first.channels)
                                 if c in self.channels]
        self.targets = {name: (rule.target if rule.target is None or rule.target.ndim == 3 else rule.target[0])
                        for name, rule in self.models.items()}
        self.templates = {name: Template(t, rotations) for name, t in self.targets.items() if t is not None}
        self.target_area = {name: int((t[..., 3] > ALIVE).sum()) if t is not None else 0
                            for name, t in self.targets.items()}
        self.shape = (recording.height, recording.width)
        self._ideal: dict[tuple[int, ...], np.ndarray] = {}

    def ideal(self, step: int) -> np.ndarray:
        """The paper's ideal image: every organism spawned by `step` contributes its target."""
        spawned = tuple(i for i, r in enumerate(self.events) if r["event"]["kind"] == "spawn" and r["step"] <= step)
        if spawned not in self._ideal:
            image = np.zeros((*self.shape, 4), np.float32)
            for i in spawned:
                event = self.events[i]["event"]
                target = self.targets.get(event["species"])
                if target is not None:
                    image += placed_target(target, tuple(event["position"]), self.shape)
            self._ideal = {spawned: np.clip(image, 0.0, 1.0)}
        return self._ideal[spawned]


def _measure_frame(ctx: _Context, step: int, frame: np.ndarray, owner: np.ndarray,
                   rows: list, contacts: list, paper: list, previous_box: list) -> None:
    rgba = frame[..., :4]
    living = rgba[..., 3] > ALIVE
    if living.any():
        ys, xs = np.nonzero(living)
        box = (int(ys.min()), int(xs.min()), int(ys.max()), int(xs.max()))
    else:
        box = (-1, -1, -1, -1)
    shift = (np.nan if previous_box[0] is None or box[0] < 0 or previous_box[0][0] < 0
             else float(np.hypot(box[0] - previous_box[0][0], box[1] - previous_box[0][1])))
    previous_box[0] = box
    paper.append((step, float(np.mean((rgba - ctx.ideal(step)) ** 2)), *box, shift))
    for (k, j), length in contact_lengths(owner).items():
        contacts.append((step, k, j, length))
    boxes = ndimage.find_objects(owner)  # one pass: the bounding box of every organism
    for k, name in ctx.names.items():
        box = boxes[k - 1] if k - 1 < len(boxes) else None
        if box is None:
            rows.append((step, k, name, 0, 0.0, np.nan, np.nan, -1, -1, -1, -1, np.nan, 0.0, np.nan, 0))
            continue
        mine = owner[box] == k
        ys, xs = np.nonzero(mine)
        top, left = box[0].start, box[1].start
        bottom, right = box[0].stop - 1, box[1].stop - 1
        crop = np.where(mine[..., None], rgba[box], 0)
        template = ctx.templates.get(ctx.species.get(k, ""))
        error, iou = np.nan, np.nan
        if template is not None:
            aligned = template.align(crop)
            error, iou = aligned.error, aligned.iou
        alive_mask = mine & living[box]
        labels, count = ndimage.label(alive_mask, structure=EIGHT_NEIGHBOURS)
        debris = int(alive_mask.sum() - np.bincount(labels.ravel())[1:].max()) if count > 1 else 0
        purity = np.nan
        own = ctx.identity.get(k)
        if own is not None and ctx.identity_columns:
            values = frame[box][mine][:, ctx.identity_columns]
            others = [v for v in ctx.identity.values() if v is not None and not np.array_equal(v, own)]
            own_distance = np.abs(values - own).sum(axis=1)
            nearest = np.min([np.abs(values - o).sum(axis=1) for o in others], axis=0) if others else np.inf
            purity = float(np.mean(own_distance <= nearest))
        rows.append((step, k, ctx.names[k], len(ys), float(rgba[box][..., 3][mine].sum()),
                     float(ys.mean() + top), float(xs.mean() + left), int(top), int(left), int(bottom),
                     int(right), error, iou, purity, debris))


def analyze(recording: Recording | str | Path, rotations: bool = False) -> Analysis:
    """Every measure of the module docstring for one recording."""
    if not isinstance(recording, Recording):
        with open_recording(recording) as opened:
            return analyze(opened, rotations)
    ctx = _Context(recording, rotations)
    rows: list = []
    contacts: list = []
    paper: list = []
    previous_box: list = [None]
    steps = recording.steps
    for start in range(0, len(recording), CHUNK):
        stop = min(len(recording), start + CHUNK)
        frames = recording.stored_frames(start, stop)
        owners = recording.file["owner"][start:stop]
        scale = 255.0 if recording.dtype == "uint8" else 1.0
        for i in range(stop - start):
            _measure_frame(ctx, int(steps[start + i]), frames[i].astype(np.float32) / scale,
                           owners[i].astype(np.int64), rows, contacts, paper, previous_box)
    organisms = pd.DataFrame(rows, columns=["step", "organism", "name", "alive", "mass", "centroid_y",
                                            "centroid_x", "top", "left", "bottom", "right", "shape_error",
                                            "iou", "identity_purity", "debris_cells"])
    organisms = _flags_and_velocity(organisms, ctx)
    return Analysis(
        organisms=organisms,
        contacts=pd.DataFrame(contacts, columns=["step", "organism", "other", "contact_length"]),
        paper=pd.DataFrame(paper, columns=["step", "ideal_mse", "box_top", "box_left", "box_bottom",
                                           "box_right", "box_shift"]),
        regeneration=regeneration(organisms, ctx.events, ctx.names),
        names=ctx.names,
        events=ctx.events,
    )


def _flags_and_velocity(table: pd.DataFrame, ctx: _Context) -> pd.DataFrame:
    table = table.sort_values(["organism", "step"]).reset_index(drop=True)
    grouped = table.groupby("organism")
    dt = grouped["step"].diff()
    table["velocity_y"] = grouped["centroid_y"].diff() / dt
    table["velocity_x"] = grouped["centroid_x"].diff() / dt
    was_alive = grouped["alive"].cummax() > 0
    table["collapsed"] = was_alive & (table["alive"] == 0)
    limit = table["organism"].map(lambda k: EXPLOSION_FACTOR * ctx.target_area.get(ctx.species.get(k, ""), 0))
    table["exploded"] = (limit > 0) & (table["alive"] > limit)
    table["debris"] = table["debris_cells"] >= DEBRIS_MIN
    return table.sort_values(["step", "organism"]).reset_index(drop=True)


def regeneration(organisms: pd.DataFrame, events: list[dict], names: dict[int, str]) -> pd.DataFrame:
    """For each damage event and organism it hit: error before, steps to regrow, settled error.

    Regrown: the aligned error is back within ``max(0.002, 25%)`` of its last value before the
    event. The settled error is the median over the last quarter of the frames until the next
    damage to that organism (or the end).
    """
    rows = []
    damage = [r for r in events if r["event"]["kind"] in DAMAGE_KINDS]
    by_name = {name: k for k, name in names.items()}
    for index, record in enumerate(damage):
        step = record["step"]
        hit = [by_name[record["event"]["organism"]]] if record["event"].get("organism") in by_name else list(names)
        for k in hit:
            track = organisms[(organisms.organism == k)].set_index("step")["shape_error"].dropna()
            before = track[track.index < step]
            if before.empty:
                continue
            later = [r["step"] for r in damage[index + 1 :] if r["event"].get("organism") in (None, names[k])]
            end = later[0] if later else np.inf
            after = track[(track.index >= step) & (track.index < end)]
            if after.empty:
                continue
            reference = float(before.iloc[-1])
            tolerance = max(0.002, REGROWTH_TOLERANCE * reference)
            back = after[(after <= reference + tolerance) & (after.index > step)]
            settled = float(after.iloc[-max(1, len(after) // 4) :].median())
            rows.append((step, record["event"]["kind"], k, names[k], reference, float(after.iloc[0]),
                         float(back.index[0] - step) if len(back) else np.nan, settled))
    return pd.DataFrame(rows, columns=["step", "kind", "organism", "name", "error_before", "error_after_cut",
                                       "regrowth_steps", "settled_error"])
