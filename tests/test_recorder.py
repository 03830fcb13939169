"""The recorder's chunk codecs and its hand-over of the world's state to the writer thread."""

import time

import h5py
import hdf5plugin
import numpy as np
import pytest

import sim.recorder as recorder_module
from agents.spec import RuleSpec
from sim.recorder import Recorder, lz4_chunk, open_recording
from sim.world import World
from tests.conftest import lively_rule


def grown_world() -> World:
    world = World(24, 40, species={"g": lively_rule(RuleSpec(channels=16, hidden=16), seed=2)}, seed=5)
    world.spawn("a", "g", (12, 10))
    world.spawn("b", "g", (12, 30))
    world.step(12)
    return world


@pytest.mark.parametrize("shape, dtype", [((7, 9, 5), np.uint8), ((24, 40), np.uint16), ((3, 4, 6), np.float32)])
@pytest.mark.parametrize("compressible", [True, False])
def test_lz4_chunks_read_back_through_the_hdf5_filter(tmp_path, shape, dtype, compressible):
    rng = np.random.default_rng(0)
    data = (rng.random(shape) * (4 if compressible else 60000)).astype(dtype)
    if compressible:
        data.flat[::3] = 0
    chunk = lz4_chunk(data)
    assert int.from_bytes(chunk[:8], "big") == data.nbytes  # the filter's header: total, block size
    assert int.from_bytes(chunk[8:12], "big") == data.nbytes
    with h5py.File(tmp_path / "lz4.h5", "w") as f:
        dataset = f.create_dataset("x", (1, *shape), dtype, chunks=(1, *shape), **hdf5plugin.LZ4())
        dataset.id.write_direct_chunk((0,) * (len(shape) + 1), chunk)
    with h5py.File(tmp_path / "lz4.h5", "r") as f:
        np.testing.assert_array_equal(f["x"][0], data)


def record(path, world, steps, compression, in_place):
    with Recorder(path, world, scenario_text="", channels=[0, 1, 2, 3], compression=compression,
                  keyframe_every=4, flush_every=3) as recorder:
        for _ in range(steps):
            recorder.observe(world, in_place=in_place)
            if in_place:
                recorder.before_change(world.padded()[1])
            world.step()
    return open_recording(path)


def test_every_codec_and_both_hand_overs_record_the_same_run(tmp_path):
    recordings = [record(tmp_path / f"{codec}-{in_place}.h5", grown_world(), 10, codec, in_place)
                  for codec in ("lz4", "gzip", "lzf", "none") for in_place in (False, True)]
    first = recordings[0]
    assert len(first) == 10 and first.complete
    for other in recordings[1:]:
        assert len(other) == len(first) and other.file["frames"].shape == first.file["frames"].shape
        for i in range(len(first)):
            np.testing.assert_array_equal(other.frame(i), first.frame(i))
            np.testing.assert_array_equal(other.owner(i), first.owner(i))
        np.testing.assert_array_equal(other.metrics, first.metrics)
        np.testing.assert_array_equal(other.keyframe(1).state, first.keyframe(1).state)
    for recording in recordings:
        recording.close()


@pytest.fixture
def slow_writer(monkeypatch):
    """A writer thread that takes 0.2 s to encode a frame, so a change made too early shows."""
    encode = recorder_module.encode_frame

    def slow(*args):
        time.sleep(0.2)
        return encode(*args)

    monkeypatch.setattr(recorder_module, "encode_frame", slow)


def first_frame_after_zeroing(path, world, in_place, wait):
    expected = (np.clip(world.state[:, :, :4], 0, 1) * 255 + 0.5).astype(np.uint8)
    with Recorder(path, world, scenario_text="", channels=[0, 1, 2, 3]) as recorder:
        recorder.observe(world, in_place=in_place)
        if wait:
            recorder.before_change(world.padded()[0])
        world.state[:] = 0
    with open_recording(path) as recording:
        return recording.file["frames"][0], expected


def test_a_change_right_after_observing_is_not_seen_by_the_frame(tmp_path, slow_writer):
    """The frame of step t shows step t even when the world is cut at once (a copy is read)."""
    frame, expected = first_frame_after_zeroing(tmp_path / "copy.h5", grown_world(), in_place=False, wait=False)
    np.testing.assert_array_equal(frame, expected)


def test_before_change_waits_for_an_in_place_read(tmp_path, slow_writer):
    frame, expected = first_frame_after_zeroing(tmp_path / "wait.h5", grown_world(), in_place=True, wait=True)
    np.testing.assert_array_equal(frame, expected)
    # without the wait the writer reads the buffer after it was zeroed: the hand-over is real
    frame, _ = first_frame_after_zeroing(tmp_path / "race.h5", grown_world(), in_place=True, wait=False)
    assert not frame.any()
