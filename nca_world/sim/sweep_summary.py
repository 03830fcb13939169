"""The run-level summary of one sweep run (`summarise`): its metrics at the last frame of its
analysed recording, one row of ``results.csv``."""

from __future__ import annotations

from typing import Any

import numpy as np


def summarise(analysis) -> dict[str, Any]:
    """The run-level metrics of one analysed recording at its last frame.

    ``max_displacement`` is the largest straight-line distance any organism's centroid moved
    between its first and last frame alive (the shortest way on a torus); ``displacement_<name>``
    is that distance per organism.
    ``box_shift`` sums the shifts of the global bounding box over the run, and ``exploded`` is
    whether any organism exploded at any frame (`sim.analysis`'s 3x limit); ``collapsed`` is at
    the last frame. The shape errors are over living organisms only (a dead one has none), while
    ``min_iou`` counts a dead organism as 0: see `sim.study_measures` for breakdown classes.
    """
    table = analysis.organisms
    last = table[table.step == table.step.max()]
    out: dict[str, Any] = {
        "ideal_mse": float(analysis.paper.ideal_mse.iloc[-1]),
        "mean_shape_error": float(last.shape_error.mean()),
        "max_shape_error": float(last.shape_error.max()),
        "min_iou": float(last.iou.min()),
        "alive_organisms": int((last.alive > 0).sum()),
        "total_cells": int(last.alive.sum()),
        "box_shift": float(np.nansum(analysis.paper.box_shift)),
        "collapsed": bool(last.collapsed.any()),
        "exploded": bool(table.exploded.any()),
        "contact_length": int(analysis.contacts[analysis.contacts.step == table.step.max()].contact_length.sum()),
    }
    from nca_world.sim.analysis import displacement as analysis_displacement

    displacement = []
    for k, track in table.groupby("organism"):
        if track.track_y.notna().sum() > 1:
            moved = analysis_displacement(track)  # along the continuous track: right across a torus's edges
            displacement.append(moved)
            out[f"displacement_{analysis.names[int(k)]}"] = moved
    out["max_displacement"] = max(displacement, default=0.0)
    return out
