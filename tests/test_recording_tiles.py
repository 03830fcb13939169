"""Recordings of big worlds are chunked in tiles: the same frames as one chunk a frame, regions
read from the tiles they touch only, and forks and restores of tiled files exact.

Tiles are made small here (`tile=8`, or `TILE` patched to 16) so that small worlds are tiled."""

import h5py
import numpy as np
import pytest

from nca_world.agents.errors import RecordingError
from nca_world.sim import recorder_layout
from nca_world.sim.recorder import Recorder
from nca_world.sim.recorder_layout import frame_tile
from nca_world.sim.recording import open_recording
from nca_world.sim.runner import fork, restore_at, run_scenario
from nca_world.sim.scenario import load_scenario
from tests.test_recorder import grown_world

REGIONS = [(0, 24, 0, 40), (3, 11, 5, 21), (8, 16, 8, 16), (23, 24, 39, 40), (0, 1, 0, 40), (5, 24, 17, 18)]


def test_small_worlds_keep_a_frame_a_chunk_and_big_ones_are_tiled_evenly():
    assert frame_tile(48, 64) == (48, 64)
    assert frame_tile(512, 512) == (512, 512)  # no side longer than 2 * TILE
    assert frame_tile(2048, 2048) == (256, 256)
    assert frame_tile(4096, 1024) == (256, 256)
    assert frame_tile(600, 100) == (200, 100)  # 3 tiles of 200 rows, not 256 + 256 + 88
    assert frame_tile(1025, 513) == (205, 171)
    assert frame_tile(24, 40, 8) == (8, 8) and frame_tile(24, 40, 12) == (12, 10)


def record(path, codec, tile, dtype="uint8"):
    """A run of 10 steps of the recorder tests' world: cut and killed organisms, rows emptied."""
    world = grown_world()
    with Recorder(path, world, scenario_text="", channels=[0, 1, 2, 3, 15], dtype=dtype, compression=codec, every=1,
                  keyframe_every=4, flush_every=3, tile=tile) as recorder:
        for step in range(10):
            if step == 5:
                world.owner[:, :20] = 0
                world.state[:, :20] = 0
            recorder.observe(world)
            world.step()
    return open_recording(path)


@pytest.mark.parametrize("codec", ["lz4", "gzip", "lzf", "none"])
@pytest.mark.parametrize("dtype", ["uint8", "float16"])
def test_tiled_and_untiled_recordings_hold_the_same_frames_and_regions(tmp_path, codec, dtype):
    with record(tmp_path / "whole.h5", codec, None, dtype) as whole, \
            record(tmp_path / "tiled.h5", codec, 8, dtype) as tiled:
        assert whole.file["frames"].chunks == (1, 5, 24, 40) and whole.file["owner"].chunks == (1, 24, 40)
        assert tiled.file["frames"].chunks == (1, 5, 8, 8) and tiled.file["owner"].chunks == (1, 8, 8)
        assert len(tiled) == len(whole) == 10
        if codec in ("lz4", "gzip"):  # written chunk by chunk: every tile of every frame is there
            assert tiled.file["frames"].id.get_num_chunks() == 10 * 15 == tiled.file["owner"].id.get_num_chunks()
        for i in range(len(whole)):
            frame, owner = whole.frame(i), whole.owner(i)
            assert frame[..., 3].any()  # frames with something in them
            np.testing.assert_array_equal(tiled.frame(i), frame)
            np.testing.assert_array_equal(tiled.owner(i), owner)
            for y0, y1, x0, x1 in REGIONS:
                np.testing.assert_array_equal(tiled.frame(i, region=(y0, y1, x0, x1)), frame[y0:y1, x0:x1])
                np.testing.assert_array_equal(tiled.owner(i, region=(y0, y1, x0, x1)), owner[y0:y1, x0:x1])
                np.testing.assert_array_equal(whole.frame(i, region=(y0, y1, x0, x1)), frame[y0:y1, x0:x1])
        np.testing.assert_array_equal(tiled.keyframe(2).state, whole.keyframe(2).state)
        np.testing.assert_array_equal(tiled.metrics, whole.metrics)


def test_a_region_outside_the_grid_is_refused_with_the_grid_size(tmp_path):
    with record(tmp_path / "tiled.h5", "lz4", 8) as tiled:
        for region in [(0, 25, 0, 40), (5, 5, 0, 40), (-1, 3, 0, 4), (0, 3, 30, 41)]:
            with pytest.raises(RecordingError, match=r"region: expected .* <= 24 .* <= 40, got"):
                tiled.frame(0, region=region)
        with pytest.raises(RecordingError, match="region"):
            tiled.owner(0, region=(0, 3, 4, 2))


def spoil_tiles_outside(path, index, region, tile):
    """Overwrite, in the file, the stored bytes of every chunk of frame `index` (frames and owner)
    that `region` does not touch; returns how many chunks of each were spoiled and kept."""
    y0, y1, x0, x1 = region
    counts = {}
    with h5py.File(path, "r") as f:
        places = []
        for name in ("frames", "owner"):
            dataset = f[name]
            spoiled = kept = 0
            for n in range(dataset.id.get_num_chunks()):
                info = dataset.id.get_chunk_info(n)
                if info.chunk_offset[0] != index:
                    continue
                ty, tx = info.chunk_offset[-2:]
                if ty < y1 and ty + tile > y0 and tx < x1 and tx + tile > x0:
                    kept += 1
                else:
                    places.append((info.byte_offset, info.size))
                    spoiled += 1
            counts[name] = (spoiled, kept)
    with open(path, "r+b") as raw:
        for offset, size in places:
            raw.seek(offset)
            raw.write(b"\xff" * size)  # no longer an LZ4 chunk: reading it fails
    return counts


def test_a_region_read_decompresses_only_the_tiles_it_touches(tmp_path):
    """The tiles outside a region are overwritten with garbage in the file: the region still reads
    exactly, while a read of the whole frame fails on the spoiled tiles."""
    with record(tmp_path / "tiled.h5", "lz4", 8) as tiled:
        expected_frame, expected_owner = tiled.frame(6), tiled.owner(6)
        other = tiled.frame(7)
    region = (3, 11, 5, 13)  # rows 0-15 and columns 0-15: 2 x 2 of the 3 x 5 tiles
    counts = spoil_tiles_outside(tmp_path / "tiled.h5", 6, region, 8)
    assert counts == {"frames": (11, 4), "owner": (11, 4)}
    with open_recording(tmp_path / "tiled.h5") as spoiled:
        np.testing.assert_array_equal(spoiled.frame(6, region=region), expected_frame[3:11, 5:13])
        np.testing.assert_array_equal(spoiled.owner(6, region=region), expected_owner[3:11, 5:13])
        np.testing.assert_array_equal(spoiled.frame(7), other)  # the next frame's tiles are whole
        with pytest.raises((OSError, RuntimeError)):
            spoiled.frame(6)
        with pytest.raises((OSError, RuntimeError)):
            spoiled.owner(6, region=(0, 8, 16, 24))


def test_forks_and_restores_of_a_tiled_recording_are_exact(scenario_dir, monkeypatch):
    monkeypatch.setattr(recorder_layout, "TILE", 16)  # the 48 x 64 test world in 3 x 4 tiles
    scenario = load_scenario(scenario_dir / "base.toml")
    summary = run_scenario(scenario, out=scenario_dir / "tiled.h5", progress=False)
    with open_recording(summary.recording) as recording:
        assert recording.file["frames"].chunks[-2:] == (16, 16) and len(recording) == 41
        for at in (7, 20, 33):  # after a spawn, the kill_fraction step, between keyframes
            restored = restore_at(recording, at).world
            key = (np.clip(restored.state_view(), 0, 1) * 255 + 0.5).astype(np.uint8) / np.float32(255)
            frame = recording.frame(at, region=(10, 40, 3, 50))
            np.testing.assert_array_equal(frame[..., :4], key[10:40, 3:50, :4])
            np.testing.assert_array_equal(recording.owner(at), restored.owner)
        frames = [recording.frame(i) for i in range(len(recording))]
    forked = fork(summary.recording, 15, out=scenario_dir / "fork.h5", progress=False)
    with open_recording(forked.recording) as fork_recording:
        assert fork_recording.file["frames"].chunks[-2:] == (16, 16) and len(fork_recording) == 41
        for i in range(len(fork_recording)):  # the prefix copied, the rest run again: the same run
            np.testing.assert_array_equal(fork_recording.frame(i), frames[i])
