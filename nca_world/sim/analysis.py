"""Offline analysis of a recording: per-organism measures from the exact owner map.

Frames are read in chunks, so memory does not grow with the recording's length. Tables:

- ``organisms``: per frame and organism: alive cells, mass, centroid, its velocity and its
  continuous track, bounding box, shape error after best alignment with its species' target
  (and the quarter turns of the best one), IoU with the aligned silhouette, identity purity,
  debris cells, and the flags collapsed / exploded / debris;
- ``contacts``: per frame and pair of organisms, the length of their shared border (cell edges);
- ``paper``: per frame, the identity paper's measures (Stovold 2025): RGBA MSE against the
  "ideal" image (each target pasted at its organism's seed cell, summed, clipped) and the
  bounding box of all living cells with its shift;
- ``regeneration``: per damage episode and organism it hit (that lost cells to it), the error
  before, the steps until the aligned error is back within tolerance, and the error it settles at;
- ``lineage`` and ``body_shares`` (`sim.lineage`): the children of fissions, and per takeover
  (``convert``) which organisms own the cells of the original body in each later frame.

An organism before its spawn step has no measures (NaN / NA); a dead one has 0 cells, an IoU of
0 and no centroid, box or shape error.

On a torus (``boundary = "wrap"``, read from the recorded scenario) an organism may straddle the
edges. Each organism's rows and columns are then unwrapped at their longest empty arc
(`sim.metrics.arc_of`): its box is that arc (``bottom``/``right`` may pass the grid's edge), its
centroid the unwrapped mean taken back into the grid, its image for alignment and debris the
unwrapped crop (cells across the seam join up when the body goes all the way round), velocities
are minimum-image differences, contacts count edges across the seams, and the paper's ideal
image wraps. ``track_y`` / ``track_x`` follow the centroid continuously (not wrapped back), for
displacements.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import ndimage

from nca_world.sim.alignment import ALIVE, Template
from nca_world.sim.events import cut_mask, event_of
from nca_world.sim.fission import torus_labels
from nca_world.sim.lineage import BodyShares, lineage_table
from nca_world.sim.metrics import arc_of, body_on_torus, minimum_image
from nca_world.sim.recording import Recording, open_recording

DAMAGE_KINDS = ("cut_circle", "cut_rect", "cut_line", "kill_fraction", "noise")
EXPLOSION_FACTOR = 3.0  # an organism over 3x its target's living area has exploded
DEBRIS_MIN = 5  # living cells cut off from the body that count as debris
REGROWTH_TOLERANCE = 0.25  # back within 25% (relative) of the pre-damage error, or 0.002 absolute
CHUNK = 64
ORGANISM_COLUMNS = {  # the organisms table before flags and velocities, with its dtypes
    "step": "int64", "organism": "int64", "name": "object", "alive": "Int64", "mass": "float64",
    "centroid_y": "float64", "centroid_x": "float64", "top": "Int64", "left": "Int64", "bottom": "Int64",
    "right": "Int64", "shape_error": "float64", "iou": "float64", "rotation": "Int64",
    "identity_purity": "float64", "debris_cells": "Int64"}
PAPER_COLUMNS = {"step": "int64", "ideal_mse": "float64", "box_top": "Int64", "box_left": "Int64",
                 "box_bottom": "Int64", "box_right": "Int64", "box_shift": "float64"}
CONTACT_COLUMNS = {"step": "int64", "organism": "int64", "other": "int64", "contact_length": "int64"}
REGENERATION_COLUMNS = {"step": "int64", "kind": "object", "organism": "int64", "name": "object",
                        "error_before": "float64", "error_after_cut": "float64", "regrowth_steps": "float64",
                        "settled_error": "float64"}
NA = pd.NA


def typed_table(rows: list, columns: dict[str, str]) -> pd.DataFrame:
    """A DataFrame of `rows` with these columns and dtypes (also when there are no rows)."""
    frame = pd.DataFrame(rows, columns=list(columns)) if rows else pd.DataFrame({c: [] for c in columns})
    return frame.astype(columns)


@dataclass
class Analysis:
    """The tables of one recording (see the module docstring)."""

    organisms: pd.DataFrame
    contacts: pd.DataFrame
    paper: pd.DataFrame
    regeneration: pd.DataFrame
    names: dict[int, str]
    events: list[dict]
    wrap: bool = False  # the world was a torus
    lineage: pd.DataFrame = dataclasses.field(default_factory=lambda: lineage_table([], {}))
    body_shares: pd.DataFrame = dataclasses.field(default_factory=lambda: BodyShares([], {}).table())

    @property
    def takeovers(self) -> pd.DataFrame:
        """Per `convert` event and frame from it on: the cells of the organism taken from (`source`)
        and of the intruder, and the intruder's share of their sum (NaN once both are gone)."""
        by_name = {name: index for index, name in self.names.items()}
        rows = []
        cells = self.organisms.pivot_table(index="step", columns="organism", values="alive", aggfunc="first")
        for record in self.events:
            if record["event"]["kind"] != "convert":
                continue
            source, intruder = by_name[record["event"]["organism"]], record["effect"]["index"]
            for step in cells.index[cells.index >= record["step"]]:
                a = cells.at[step, source] if source in cells.columns else np.nan
                b = cells.at[step, intruder] if intruder in cells.columns else np.nan
                a, b = (0.0 if pd.isna(a) else float(a)), (0.0 if pd.isna(b) else float(b))
                rows.append({"convert_step": record["step"], "source": self.names[source],
                             "intruder": self.names[intruder], "step": int(step), "source_cells": a,
                             "intruder_cells": b, "intruder_share": b / (a + b) if a + b else np.nan})
        columns = ["convert_step", "source", "intruder", "step", "source_cells", "intruder_cells", "intruder_share"]
        return pd.DataFrame(rows, columns=columns)

    def summary(self) -> str:
        """A few lines for the terminal."""
        if self.organisms.empty:
            return "no organism in any recorded frame (nothing to analyse)"
        last = self.organisms[self.organisms.step == self.organisms.step.max()]
        lines = [f"{'organism':16} {'alive':>7} {'error':>8} {'iou':>6} {'moved':>7}  flags"]
        for row in last.itertuples():
            moved = displacement(self.organisms[self.organisms.organism == row.organism])
            flags = [f for f in ("collapsed", "exploded", "debris") if getattr(row, f)]
            alive = "-" if pd.isna(row.alive) else str(row.alive)
            lines.append(f"{row.name:16} {alive:>7} {row.shape_error:8.4f} {row.iou:6.2f} {moved:7.1f}  "
                         f"{', '.join(flags) or '-'}")
        for row in self.regeneration.itertuples():
            regrown = "not regrown" if np.isnan(row.regrowth_steps) else f"regrown in {row.regrowth_steps:.0f} steps"
            lines.append(f"{row.kind} at step {row.step} on {row.name}: error {row.error_before:.4f} -> "
                         f"{regrown}, settles at {row.settled_error:.4f}")
        for row in self.lineage.itertuples():
            lines.append(f"split at step {row.step}: {row.child} (#{row.child_index}) from {row.parent} "
                         f"(#{row.parent_index}), {row.cells} cells")
        for (step, source), shares in self.body_shares.groupby(["convert_step", "source"], sort=False):
            last = shares[shares.step == shares.step.max()].sort_values("share", ascending=False)
            owners = ", ".join(f"{r.name} {r.share:.0%}" for r in last.itertuples())
            lines.append(f"takeover at step {step} of {source} ({int(last.body_cells.iloc[0])} cells): "
                         f"at step {int(last.step.iloc[0])} {owners}")
        return "\n".join(lines)


def displacement(track: pd.DataFrame) -> float:
    """How far an organism's centroid went from its first to its last known position (0 if it
    never lived), along its continuous track (so also across a torus's edges)."""
    track = track.dropna(subset=["track_y"])
    if not len(track):
        return 0.0
    return float(np.hypot(track.track_y.iloc[-1] - track.track_y.iloc[0],
                          track.track_x.iloc[-1] - track.track_x.iloc[0]))


def placed_target(target: np.ndarray, centre: tuple[int, int], shape: tuple[int, int],
                  wrap: bool = False) -> np.ndarray:
    """`target` pasted into an empty ``shape`` image with its centre pixel at `centre`: clipped at
    the edges, or on a torus (`wrap`) going on across them."""
    h, w = target.shape[:2]
    out = np.zeros((*shape, 4), np.float32)
    top, left = centre[0] - h // 2, centre[1] - w // 2
    if wrap and h <= shape[0] and w <= shape[1]:
        out[np.ix_(np.arange(top, top + h) % shape[0], np.arange(left, left + w) % shape[1])] = target
        return out
    ys, xs = slice(max(0, top), min(shape[0], top + h)), slice(max(0, left), min(shape[1], left + w))
    out[ys, xs] = target[ys.start - top : ys.stop - top, xs.start - left : xs.stop - left]
    return out


def contact_lengths(owner: np.ndarray, wrap: bool = False) -> dict[tuple[int, int], int]:
    """Cell edges shared by each pair of organisms ``(k, j)``, ``k < j``; on a torus (`wrap`) also
    the edges between the last and the first row and column."""
    pairs = [np.stack([owner[:, :-1].ravel(), owner[:, 1:].ravel()]),
             np.stack([owner[:-1].ravel(), owner[1:].ravel()])]
    if wrap:
        pairs += [np.stack([owner[:, -1], owner[:, 0]]), np.stack([owner[-1], owner[0]])]
    pairs = np.concatenate(pairs, axis=1)
    pairs = pairs[:, (pairs[0] > 0) & (pairs[1] > 0) & (pairs[0] != pairs[1])]
    low, high = np.minimum(pairs[0], pairs[1]), np.maximum(pairs[0], pairs[1])
    keys, counts = np.unique(low.astype(np.int64) << 32 | high, return_counts=True)
    return {(int(k >> 32), int(k & 0xFFFFFFFF)): int(n) for k, n in zip(keys, counts, strict=True)}


def recorded_boundary(recording: Recording) -> str:
    """The recorded world's boundary: a ``boundary`` root attribute if there is one, else the
    recorded scenario's ``world.boundary`` (``"zero"`` when neither says)."""
    if "boundary" in recording.file.attrs:
        return str(recording.file.attrs["boundary"])
    try:
        world = tomllib.loads(recording.scenario_text).get("world", {})
    except tomllib.TOMLDecodeError:
        return "zero"
    return str(world.get("boundary", "zero")) if isinstance(world, dict) else "zero"


def body_crop(owner: np.ndarray, k: int, box: tuple[slice, slice], wrap: bool) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns ``(ys, xs)`` of the grid that hold organism `k`'s body, in order: its
    box `box` (`ndimage.find_objects`) or, on a torus, each axis's shortest arc holding it
    (`sim.metrics.arc_of`), which may go on across the edge."""
    ys, xs = np.arange(box[0].start, box[0].stop), np.arange(box[1].start, box[1].stop)
    if not wrap:
        return ys, xs
    height, width = owner.shape
    if len(ys) > 1 and ys[0] == 0 and ys[-1] == height - 1:  # it may straddle the top and bottom edges
        top, rows = arc_of(np.bincount(np.nonzero(owner[:, xs] == k)[0], minlength=height))
        ys = np.arange(top, top + rows) % height
    if len(xs) > 1 and xs[0] == 0 and xs[-1] == width - 1:
        left, columns = arc_of(np.bincount(np.nonzero(owner[ys] == k)[1], minlength=width))
        xs = np.arange(left, left + columns) % width
    return ys, xs


def largest_component(cells: np.ndarray, wrap_rows: bool = False, wrap_columns: bool = False) -> int:
    """Cells in the largest 8-connected component of `cells` ``(h, w)`` bool; with `wrap_rows`
    the last row touches the first (a crop that goes all the way round a torus), the same for
    `wrap_columns` (`sim.fission.torus_labels`)."""
    labels, count = torus_labels(cells, wrap_rows, wrap_columns)
    return int(np.bincount(labels.ravel())[1:].max()) if count else 0


class _Context:
    """What the per-frame measures need from the recording."""

    def __init__(self, recording: Recording, rotations: bool, boundary: str | None = None) -> None:
        self.recording = recording
        self.models = recording.models
        self.events = recording.events
        self.wrap = (boundary or recorded_boundary(recording)) == "wrap"
        spawns = [r for r in self.events if r["event"]["kind"] == "spawn"]
        self.names = {r["effect"]["index"]: r["event"]["name"] for r in spawns}
        self.species = {r["effect"]["index"]: r["event"]["species"] for r in spawns}
        self.seed_cells = {r["effect"]["index"]: tuple(r["event"]["position"]) for r in spawns}
        self.spawn_steps = {r["effect"]["index"]: int(r["step"]) for r in spawns}
        identity = {r["effect"]["index"]: r["event"].get("identity") for r in spawns}
        if len(recording.keyframe_steps):  # organisms planted before the recording started
            for organism in recording.keyframe(0).organisms:
                self.names.setdefault(organism.index, organism.name)
                self.species.setdefault(organism.index, organism.species)
                self.seed_cells.setdefault(organism.index, organism.seed_cell)
                self.spawn_steps.setdefault(organism.index, organism.spawn_step)
                identity.setdefault(organism.index, list(organism.identity) or None)
        by_name = {name: index for index, name in self.names.items()}
        for r in self.events:  # takeovers and fissions: new organisms made of another's cells
            if r["event"]["kind"] == "split":
                parent = r["effect"]["parent"]
                for child in r["effect"]["children"]:
                    index = child["index"]
                    self.names[index], self.species[index] = child["name"], self.species.get(parent, "")
                    self.seed_cells[index] = tuple(child["seed_cell"])
                    self.spawn_steps[index] = int(r["step"])
                    identity[index] = identity.get(parent)
                    by_name[child["name"]] = index
            elif r["event"]["kind"] == "convert":
                index, source = r["effect"]["index"], by_name.get(r["event"]["organism"])
                self.names[index], self.species[index] = r["event"]["name"], r["event"]["species"]
                self.seed_cells[index] = self.seed_cells.get(source, (0, 0))
                self.spawn_steps[index] = int(r["step"])
                identity[index] = r["event"].get("identity")
                by_name[r["event"]["name"]] = index
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
                    image += placed_target(target, tuple(event["position"]), self.shape, self.wrap)
            self._ideal = {spawned: np.clip(image, 0.0, 1.0)}
        return self._ideal[spawned]


def _paper_row(ctx: _Context, step: int, rgba: np.ndarray, previous_box: list) -> tuple:
    """The paper's measures of one frame: ideal-image MSE, box of all living cells, its shift."""
    ys, xs = np.nonzero(rgba[..., 3] > ALIVE)
    if not len(ys):
        box = (NA, NA, NA, NA)
    elif ctx.wrap:
        box = body_on_torus(ys, xs, *ctx.shape)[2:]
    else:
        box = (int(ys.min()), int(xs.min()), int(ys.max()), int(xs.max()))
    shift = np.nan
    if previous_box[0] is not None and box[0] is not NA and previous_box[0][0] is not NA:
        dy, dx = box[0] - previous_box[0][0], box[1] - previous_box[0][1]
        if ctx.wrap:
            dy, dx = minimum_image(dy, ctx.shape[0]), minimum_image(dx, ctx.shape[1])
        shift = float(np.hypot(dy, dx))
    previous_box[0] = box
    return (step, float(np.mean((rgba - ctx.ideal(step)) ** 2)), *box, shift)


def _organism_row(ctx: _Context, step: int, k: int, frame: np.ndarray, owner: np.ndarray,
                  box: tuple[slice, slice] | None) -> tuple:
    """The `ORGANISM_COLUMNS` row of organism `k` in one frame (`box`: its plain bounding box)."""
    name = ctx.names[k]
    if box is None:
        if step < ctx.spawn_steps.get(k, -1):  # not planted yet: no measures at all
            return (step, k, name, NA, np.nan, np.nan, np.nan, NA, NA, NA, NA, np.nan, np.nan, NA, np.nan, NA)
        return (step, k, name, 0, 0.0, np.nan, np.nan, NA, NA, NA, NA, np.nan, 0.0, NA, np.nan, 0)
    ys, xs = body_crop(owner, k, box, ctx.wrap)
    wrapped = ys[-1] - ys[0] != len(ys) - 1 or xs[-1] - xs[0] != len(xs) - 1
    crop = np.ix_(ys, xs) if wrapped else (slice(ys[0], ys[-1] + 1), slice(xs[0], xs[-1] + 1))  # views if plain
    mine = owner[crop] == k
    rgba = frame[crop][..., :4]
    cell_ys, cell_xs = np.nonzero(mine)
    centroid_y, centroid_x = cell_ys.mean() + ys[0], cell_xs.mean() + xs[0]
    if ctx.wrap:
        centroid_y, centroid_x = centroid_y % ctx.shape[0], centroid_x % ctx.shape[1]
    template = ctx.templates.get(ctx.species.get(k, ""))
    error, iou, rotation = np.nan, np.nan, NA
    if template is not None:
        aligned = template.align(np.where(mine[..., None], rgba, 0))
        error, iou, rotation = aligned.error, aligned.iou, aligned.rotation
    alive = mine & (rgba[..., 3] > ALIVE)
    full_rows, full_columns = ctx.wrap and len(ys) == ctx.shape[0], ctx.wrap and len(xs) == ctx.shape[1]
    debris = int(alive.sum()) - largest_component(alive, full_rows, full_columns)
    purity = np.nan
    own = ctx.identity.get(k)
    if own is not None and ctx.identity_columns:
        values = frame[crop][mine][:, ctx.identity_columns]
        others = [v for v in ctx.identity.values() if v is not None and not np.array_equal(v, own)]
        own_distance = np.abs(values - own).sum(axis=1)
        nearest = np.min([np.abs(values - o).sum(axis=1) for o in others], axis=0) if others else np.inf
        purity = float(np.mean(own_distance <= nearest))
    return (step, k, name, len(cell_ys), float(rgba[..., 3][mine].sum()), float(centroid_y), float(centroid_x),
            int(ys[0]), int(xs[0]), int(ys[0]) + len(ys) - 1, int(xs[0]) + len(xs) - 1, error, iou, rotation,
            purity, debris)


def _measure_frame(ctx: _Context, step: int, frame: np.ndarray, owner: np.ndarray,
                   rows: list, contacts: list, paper: list, previous_box: list) -> None:
    paper.append(_paper_row(ctx, step, frame[..., :4], previous_box))
    for (k, j), length in contact_lengths(owner, ctx.wrap).items():
        contacts.append((step, k, j, length))
    boxes = ndimage.find_objects(owner)  # one pass: the bounding box of every organism
    for k in ctx.names:
        rows.append(_organism_row(ctx, step, k, frame, owner, boxes[k - 1] if k - 1 < len(boxes) else None))


def analyze(recording: Recording | str | Path, rotations: bool = False, boundary: str | None = None) -> Analysis:
    """Every measure of the module docstring for one recording (`boundary`: ``"zero"`` or
    ``"wrap"`` instead of the recorded one). A recording without frames gives empty tables."""
    if not isinstance(recording, Recording):
        with open_recording(recording) as opened:
            return analyze(opened, rotations, boundary)
    ctx = _Context(recording, rotations, boundary)
    rows: list = []
    contacts: list = []
    paper: list = []
    previous_box: list = [None]
    steps = recording.steps
    shares = BodyShares(ctx.events, ctx.names)
    scale = 255.0 if recording.dtype == "uint8" else 1.0
    for start in range(0, len(recording), CHUNK):
        stop = min(len(recording), start + CHUNK)
        frames = recording.stored_frames(start, stop)
        owners = recording.file["owner"][start:stop]
        for i in range(stop - start):
            owner = owners[i].astype(np.int64)
            _measure_frame(ctx, int(steps[start + i]), frames[i].astype(np.float32) / scale, owner, rows,
                           contacts, paper, previous_box)
            shares.frame(int(steps[start + i]), owner)
    organisms = _flags_and_velocity(typed_table(rows, ORGANISM_COLUMNS), ctx)
    return Analysis(
        organisms=organisms,
        contacts=typed_table(contacts, CONTACT_COLUMNS),
        paper=typed_table(paper, PAPER_COLUMNS),
        regeneration=regeneration(organisms, ctx.events, ctx.names, damaged_organisms(recording, ctx)),
        names=ctx.names,
        events=ctx.events,
        wrap=ctx.wrap,
        lineage=lineage_table(ctx.events, ctx.names),
        body_shares=shares.table(),
    )


def _flags_and_velocity(table: pd.DataFrame, ctx: _Context) -> pd.DataFrame:
    """Velocities (minimum-image on a torus), the continuous track, and the flags."""
    table = table.sort_values(["organism", "step"]).reset_index(drop=True)
    grouped = table.groupby("organism")
    dt = grouped["step"].diff()
    for axis, period in (("y", ctx.shape[0]), ("x", ctx.shape[1])):
        known = table.dropna(subset=[f"centroid_{axis}"])  # steps between known centroids
        step = known.groupby("organism")[f"centroid_{axis}"].diff()
        if ctx.wrap:
            step = minimum_image(step, period)
        first = known.groupby("organism")[f"centroid_{axis}"].transform("first")
        table[f"track_{axis}"] = (first + step.fillna(0.0).groupby(known.organism).cumsum()).reindex(table.index)
        table[f"velocity_{axis}"] = table.groupby("organism")[f"track_{axis}"].diff() / dt
    alive = table["alive"].astype("float64")  # NaN before the spawn
    was_alive = alive.fillna(0.0).groupby(table["organism"]).cummax() > 0
    table["collapsed"] = was_alive & (alive == 0)
    limit = table["organism"].map(lambda k: EXPLOSION_FACTOR * ctx.target_area.get(ctx.species.get(k, ""), 0))
    table["exploded"] = (limit > 0) & (alive > limit)
    table["debris"] = table["debris_cells"].astype("float64") >= DEBRIS_MIN
    return table.sort_values(["step", "organism"]).reset_index(drop=True)


def damaged_organisms(recording: Recording, ctx: _Context) -> dict[int, list[int]]:
    """For each damage event (by its place in the event log), the organisms that lost cells to
    it: the organism it names; else, of the organisms in the last frame before it, those with
    cells in its shape (cuts) or every living one (kill_fraction, noise); none when its effect
    says it killed (or touched) nothing."""
    steps = recording.steps
    hits: dict[int, list[int]] = {}
    by_name = {name: k for k, name in ctx.names.items()}
    for index, record in enumerate(ctx.events):
        event, effect = record["event"], record.get("effect", {})
        if event["kind"] not in DAMAGE_KINDS:
            continue
        if effect.get("killed", effect.get("cells", 1)) == 0:
            hits[index] = []
            continue
        if event.get("organism") is not None:
            hits[index] = [by_name[event["organism"]]] if event["organism"] in by_name else []
            continue
        before = int(np.searchsorted(steps, record["step"])) - 1  # the last frame before the event
        if before < 0:
            hits[index] = []
            continue
        owner = recording.owner(before)
        try:
            shape = cut_mask(event_of(record), *ctx.shape, ctx.wrap)
        except ValueError:  # a record this version cannot read back: count every organism present
            shape = None
        touched = owner[shape] if shape is not None else owner
        hits[index] = [int(k) for k in np.unique(touched) if k > 0 and int(k) in ctx.names]
    return hits


def regeneration(organisms: pd.DataFrame, events: list[dict], names: dict[int, str],
                 hits: dict[int, list[int]] | None = None) -> pd.DataFrame:
    """For each damage episode and organism it hit: error before, steps to regrow, settled error.

    `hits`: per damage event's place in `events`, the organisms that lost cells to it
    (`damaged_organisms`); without it, the organism an event names, or every organism. Damage
    to one organism at the same or consecutive steps (a viewer's drag-cut, a cut every step) is
    one episode, reported at its first step and kind. Regrown: the aligned error is back within
    ``max(0.002, 25%)`` of its last value before the episode; the steps are counted from the
    episode's last damage. The settled error is the median over the last quarter of the frames
    until the next episode on that organism (or the end).
    """
    rows = []
    by_name = {name: k for k, name in names.items()}
    damage = [(i, r) for i, r in enumerate(events) if r["event"]["kind"] in DAMAGE_KINDS]
    if hits is None:
        hits = {i: ([by_name[r["event"]["organism"]]] if r["event"].get("organism") in by_name else list(names))
                for i, r in damage}
    for k in names:
        mine = [r for i, r in damage if k in hits.get(i, [])]
        episodes: list[list[dict]] = []
        for record in mine:
            if episodes and record["step"] - episodes[-1][-1]["step"] <= 1:
                episodes[-1].append(record)
            else:
                episodes.append([record])
        track = organisms[organisms.organism == k].set_index("step")["shape_error"].dropna()
        for number, episode in enumerate(episodes):
            first, last = episode[0]["step"], episode[-1]["step"]
            before = track[track.index < first]
            end = episodes[number + 1][0]["step"] if number + 1 < len(episodes) else np.inf
            after = track[(track.index >= last) & (track.index < end)]
            if before.empty or after.empty:
                continue
            reference = float(before.iloc[-1])
            tolerance = max(0.002, REGROWTH_TOLERANCE * reference)
            back = after[(after <= reference + tolerance) & (after.index > last)]
            settled = float(after.iloc[-max(1, len(after) // 4) :].median())
            rows.append((first, episode[0]["event"]["kind"], k, names[k], reference, float(after.iloc[0]),
                         float(back.index[0] - last) if len(back) else np.nan, settled))
    table = typed_table(rows, REGENERATION_COLUMNS)
    return table.sort_values(["step", "organism"], kind="stable").reset_index(drop=True)
