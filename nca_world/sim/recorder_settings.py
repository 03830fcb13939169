"""What a scenario's ``[record]`` settings select and cost: the state channels recorded
(`channel_selection`) and the memory a `sim.recorder.Recorder` holds for them (`recording_memory`)."""

from __future__ import annotations

import numpy as np

from nca_world.agents.spec import Rule
from nca_world.sim.recording import STORES
from nca_world.sim.world import World


def recorded_channels(setting: str | list[int], world: World) -> list[int]:
    """The state channels a `record.channels` setting selects."""
    return channel_selection(setting, world.channels, list(world.rules.values()))


def channel_selection(setting: str | list[int], channels: int, rules: list[Rule]) -> list[int]:
    """The state channels a `record.channels` setting selects, for rules of `channels` channels."""
    if isinstance(setting, list):
        return [int(c) for c in setting]
    if setting == "all":
        return list(range(channels))
    identity = max((rule.spec.identity_channels for rule in rules), default=0)
    extra = list(range(channels - identity, channels)) if setting == "rgba+identity" else []
    return [0, 1, 2, 3, *extra]


def recording_memory(height: int, width: int, recorded: int, channels: int, *, dtype: str = "uint8",
                     every: int = 1, flush_every: int = 50) -> int:
    """Bytes a `Recorder` holds at most for a ``height x width`` world of `channels` channels
    recording `recorded` of them: its frame and owner buffers, the frames waiting for a flush
    (counted uncompressed), the LZ4 scratch, and a keyframe's copies (state, shuffled state and
    their scratch)."""
    cells = height * width
    frame = recorded * cells * np.dtype(STORES[dtype]).itemsize + 2 * cells  # a frame and its owner map
    buffers = recorded * cells + 2 * cells + height  # `FrameQueue`'s frame, owner and written-rows buffers
    if dtype == "float16":
        buffers += 4 * recorded * cells + frame  # the float32 channels taken, then their float16 copy
    pending = -(-flush_every // every) + 1
    keyframe = 4 * (channels + 1) * cells  # state and owner map, float32 / int32
    return buffers + (pending + 2) * frame + 4 * keyframe
