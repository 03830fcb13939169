"""Regrowth, worked through: two organisms in one world, one is cut and regrows.

Read it like a notebook, top to bottom; run it with

    .venv/bin/python docs/examples/regrowth.py [OUT_FOLDER]

Everything it writes goes into OUT_FOLDER (default: a new temporary folder, printed at the end):

    regrowth.png      the cut organism before, right after and long after the cut; cells and
                      aligned shape error of both organisms over the steps
    regrowth.csv      those series: step, organism, cells, error, iou
    scenario.toml     the same experiment as a scenario file
    regrowth.h5       its recording (`nca-world view` / `nca-world analyze` read it)
    recorded.png      frames of the recording, rendered with `nca_world.sim.render`
    summary.json      the numbers quoted at the end

It never replaces a file: if any of these names exists in OUT_FOLDER it stops before doing
anything. `tests/test_examples.py` runs it and checks its outputs.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure  # a figure without pyplot needs no window and no backend
from matplotlib.patches import Circle
from PIL import Image

from nca_world.agents import library
from nca_world.agents.modelfile import load_rule
from nca_world.sim.alignment import Template
from nca_world.sim.recording import open_recording
from nca_world.sim.render import layers_from_frame, render
from nca_world.sim.runner import run_scenario
from nca_world.sim.scenario import load_scenario
from nca_world.sim.world import World

OUTPUTS = ("regrowth.png", "regrowth.csv", "scenario.toml", "regrowth.h5", "recorded.png", "summary.json")

# The experiment, in numbers (small enough for a laptop: about 10 s on one core).
HEIGHT, WIDTH, SEED = 64, 128, 3
GECKO_AT, CROSS_AT = (32, 36), (32, 92)  # [y, x]: far enough apart that they never touch
GROW = 200  # steps before the cut: both are fully grown by step ~75
CUT_RADIUS = 6  # a disc at the gecko's centroid takes about 30% of its body
REGROW = 300  # steps after the cut
VIEW = 24  # the pictures show the gecko's seed cell +- VIEW cells
FIGURE_INCHES, FIGURE_DPI = (9.0, 6.0), 100  # regrowth.png is 900 x 600 pixels


def output_folder() -> Path:
    """The folder from the command line (created if needed), or a new temporary one."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", type=Path, help="output folder (default: a new temporary folder)")
    out = parser.parse_args().out
    if out is None:
        return Path(tempfile.mkdtemp(prefix="nca-regrowth-"))
    out.mkdir(parents=True, exist_ok=True)
    taken = [name for name in OUTPUTS if (out / name).exists()]
    if taken:
        sys.exit(f"regrowth.py: error: {out}: {', '.join(taken)} already exist; choose another folder")
    return out


def shape_error(world: World, name: str, template: Template) -> tuple[float, float]:
    """Aligned shape error and IoU of organism `name` against its species' target: its own cells'
    RGBA, template-matched over every shift (`nca_world.sim.alignment`, as `nca-world analyze`)."""
    own = world.rgba * world.mask(name)[..., None]
    aligned = template.align(own)
    return aligned.error, aligned.iou


def main() -> None:
    out = output_folder()

    # --- 1. Two species from the zoo, one world ------------------------------------------------
    # Library names find the bundled models (or your own, see `nca-world models`). gecko-B is the
    # gecko emoji with one identity channel; cross is an orange cross. Both have 17 channels, which
    # is what lets them share a world.
    rules = {"gecko": load_rule(library.find("gecko-B")), "cross": load_rule(library.find("cross"))}
    templates = {name: Template(rule.target) for name, rule in rules.items()}
    world = World(HEIGHT, WIDTH, species=rules, boundary="zero", seed=SEED)
    world.spawn("gecko", "gecko", at=GECKO_AT, identity=1.0)
    world.spawn("cross", "cross", at=CROSS_AT)  # no identity channel: nothing to give

    # --- 2. Grow, watching every step ------------------------------------------------------------
    rows: list[tuple[int, str, int, float, float]] = []  # step, organism, cells, error, iou

    def observe() -> None:
        for name in ("gecko", "cross"):
            error, iou = shape_error(world, name, templates[name])
            rows.append((world.step_count, name, int(world.mask(name).sum()), error, iou))

    def picture() -> np.ndarray:
        """The world's RGB view around the gecko (`world.render` gives (H, W, 3) uint8)."""
        (y, x) = GECKO_AT
        return world.render()[y - VIEW : y + VIEW, x - VIEW : x + VIEW]

    observe()
    for _ in range(GROW):
        world.step()
        observe()
    before = picture()
    cells_before = {name: int(world.mask(name).sum()) for name in ("gecko", "cross")}

    # --- 3. Cut the gecko ------------------------------------------------------------------------
    # A disc at its centroid; `organism=` limits the cut to its cells (the cross is out of reach
    # anyway). `world.apply(CutCircle(center=..., radius=...))` is the same thing as an event object.
    ys, xs = np.nonzero(world.mask("gecko"))
    centre = (round(float(ys.mean())), round(float(xs.mean())))
    killed = world.cut(center=centre, radius=CUT_RADIUS, organism="gecko")
    observe()  # the same step, after the cut
    cut = picture()

    # --- 4. Regrow -------------------------------------------------------------------------------
    # The cells come back within ~25 steps and the shape error falls by two thirds within ~50. It
    # does not quite get back to where it was, and creeps up again: the zoo's gecko-B was trained
    # with a reduced recipe and drifts slowly even uncut (its card, `nca-world models --stability`).
    for _ in range(REGROW):
        world.step()
        observe()
    after = picture()

    with open(out / "regrowth.csv", "x", encoding="utf-8") as f:
        f.write("step,organism,cells,error,iou\n")
        f.writelines(f"{s},{n},{c},{e:.6g},{i:.6g}\n" for s, n, c, e, i in rows)

    # --- 5. Plot the regrowth --------------------------------------------------------------------
    figure = Figure(figsize=FIGURE_INCHES, dpi=FIGURE_DPI)
    grid = figure.add_gridspec(2, 3, height_ratios=[1, 1.2])
    for column, (image, title) in enumerate([(before, f"step {GROW}: before the cut"),
                                             (cut, f"step {GROW}: cut ({killed} cells)"),
                                             (after, f"step {GROW + REGROW}: regrown")]):
        axis = figure.add_subplot(grid[0, column])
        axis.imshow(image, interpolation="nearest")
        axis.set_title(title, fontsize=9)
        axis.axis("off")
        if column == 1:  # where the disc was cut
            top, left = GECKO_AT[0] - VIEW, GECKO_AT[1] - VIEW
            axis.add_patch(Circle((centre[1] - left, centre[0] - top), CUT_RADIUS, fill=False,
                                  linestyle="--", color="grey"))
    cells_axis, error_axis = figure.add_subplot(grid[1, :2]), figure.add_subplot(grid[1, 2])
    for name in ("gecko", "cross"):
        steps = [r[0] for r in rows if r[1] == name]
        cells_axis.plot(steps, [r[2] for r in rows if r[1] == name], label=name)
        error_axis.plot(steps, [r[3] for r in rows if r[1] == name], label=name)
    for axis, label in ((cells_axis, "living cells"), (error_axis, "aligned shape error (MSE)")):
        axis.axvline(GROW, color="grey", linestyle=":", label="cut")
        axis.set_xlabel("step")
        axis.set_ylabel(label)
    error_axis.set_yscale("log")
    cells_axis.legend(fontsize=8)
    figure.tight_layout()
    with open(out / "regrowth.png", "xb") as f:
        figure.savefig(f, format="png", dpi=FIGURE_DPI)  # no bbox_inches: exactly 900 x 600

    # --- 6. The same experiment as a scenario file, recorded -------------------------------------
    # A scenario says it all in one file: world, species (library names), organisms and events.
    # Run from the command line it would be `nca-world run scenario.toml`.
    text = f"""\
# regrowth.py's experiment: a gecko cut at step {GROW} next to an untouched cross.
[world]
height = {HEIGHT}
width = {WIDTH}
seed = {SEED}

[[species]]
name = "gecko"
model = "gecko-B"

[[species]]
name = "cross"
model = "cross"

[[organisms]]
name = "gecko"
species = "gecko"
position = [{GECKO_AT[0]}, {GECKO_AT[1]}]
identity = 1.0

[[organisms]]
name = "cross"
species = "cross"
position = [{CROSS_AT[0]}, {CROSS_AT[1]}]

[[events]]
step = {GROW}
kind = "cut_circle"
center = [{centre[0]}, {centre[1]}]
radius = {CUT_RADIUS}
organism = "gecko"

[run]
steps = {GROW + REGROW}

[record]
path = "regrowth.h5"   # relative to this file
every = 25             # a frame every 25 steps; metrics are recorded every step
"""
    with open(out / "scenario.toml", "x", encoding="utf-8") as f:  # "x": never replaces a file
        f.write(text)
    scenario = load_scenario(out / "scenario.toml")
    summary = run_scenario(scenario, progress=False, overwrite="never")  # never replaces a file

    # --- 7. Open the recording -------------------------------------------------------------------
    with open_recording(summary.recording) as recording:
        organisms = recording.organisms_at_end()  # the organism table: index, name, species, ...
        table = recording.metrics_frame()  # per step and organism: alive, mass, centroid, box
        steps = recording.steps  # the step of each recorded frame
        picked = [int(np.searchsorted(steps, s)) for s in (GROW - 25, GROW, GROW + REGROW)]
        models = recording.models  # the embedded rules, by species
        identity_channels = max(rule.spec.identity_channels for rule in models.values())
        panels = [render(layers_from_frame(recording.frame(i), recording.channels, recording.owner(i),
                                           world.channels, identity_channels)) for i in picked]
        panels = [np.repeat(np.repeat(p, 2, axis=0), 2, axis=1) for p in panels]  # 2 pixels per cell
        frames = len(recording)
    with open(out / "recorded.png", "xb") as f:
        Image.fromarray(np.concatenate(panels, axis=1)).save(f, format="PNG")

    recorded = table[table["name"] == "gecko"].set_index("step")["alive"]
    print(f"organisms: {[(o['index'], o['name']) for o in organisms]}; {frames} frames of steps "
          f"{steps[0]}..{steps[-1]}")
    print(table[table["step"] == GROW].to_string(index=False, columns=["step", "name", "alive", "mass"]))

    # --- 8. What happened ------------------------------------------------------------------------
    series = {name: [r for r in rows if r[1] == name] for name in ("gecko", "cross")}
    result = {
        "cut_step": GROW,
        "cut_center": list(centre),
        "killed": killed,
        "cells_before_cut": cells_before,
        "cells_after_cut": {name: series[name][GROW + 1][2] for name in series},
        "cells_at_end": {name: series[name][-1][2] for name in series},
        "error_before_cut": {name: series[name][GROW][3] for name in series},
        "error_after_cut": {name: series[name][GROW + 1][3] for name in series},
        "error_at_end": {name: series[name][-1][3] for name in series},
        "recording": {"frames": frames, "organisms": [o["name"] for o in organisms],
                      "gecko_alive_at_end": int(recorded.iloc[-1]), "metric_rows": len(table)},
        "out": str(out),
    }
    with open(out / "summary.json", "x", encoding="utf-8") as f:
        json.dump(result, f, indent=2)
    print(f"gecko: {cells_before['gecko']} cells, {killed} cut away, {result['cells_at_end']['gecko']} "
          f"after {REGROW} steps; shape error {result['error_before_cut']['gecko']:.4f} -> "
          f"{result['error_after_cut']['gecko']:.4f} -> {result['error_at_end']['gecko']:.4f}")
    print(f"outputs in {out}")


if __name__ == "__main__":
    main()
