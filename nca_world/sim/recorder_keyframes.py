"""Keyframes: full-precision copies of the world in a recording (state, owner map, organism table
and how many events came before), from which a run resumes bit-exactly (`sim.recording.Keyframe`)."""

from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np

from nca_world.sim.chunks import byte_shuffle
from nca_world.sim.recorder_datasets import DatasetWriter
from nca_world.sim.world import World


def organism_table(world: World) -> str:
    """The world's organisms as a keyframe stores them (JSON)."""
    return json.dumps([asdict(o) for o in world.organisms])


def write_keyframe(writer: DatasetWriter, world: World, organisms: str, events_before: int) -> None:
    """Append a keyframe of `world` (`organisms`: its `organism_table`), after `events_before`
    logged events, once the file-size limit and the disk have room for it."""
    state, owner = np.ascontiguousarray(world.planes()), world.owner
    if writer.direct:  # a direct chunk write applies the shuffle filter here
        state, owner = byte_shuffle(state), byte_shuffle(owner)
    state, owner = writer.payloads(state, owner)
    small = sum(writer.grown(f"keyframes/{name}", 1) for name in ("events_before", "organisms", "step"))
    writer.reserve(state.nbytes + owner.nbytes + small + len(organisms.encode()))
    writer.extend("keyframes/events_before", np.array([events_before], np.int64))
    writer.append_chunk("keyframes/state", state)
    writer.append_chunk("keyframes/owner", owner)
    writer.extend("keyframes/organisms", np.array([organisms], dtype=object))
    writer.extend("keyframes/step", np.array([world.step_count], np.int64))
