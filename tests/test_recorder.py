"""The recorder: LZ4 chunks, frames and metrics against numpy references, every codec."""

import h5py
import hdf5plugin
import numpy as np
import pytest

from nca_world.agents.spec import RuleSpec
from nca_world.sim.chunks import Lz4Chunks
from nca_world.sim.events import kill
from nca_world.sim.recorder import Recorder
from nca_world.sim.recording import open_recording
from nca_world.sim.world import World
from tests.conftest import lively_rule


def grown_world() -> World:
    world = World(24, 40, species={"g": lively_rule(RuleSpec(channels=16, hidden=16), seed=2)}, seed=5)
    world.spawn("a", "g", (12, 10))
    world.spawn("b", "g", (12, 30))
    world.step(12)
    return world


@pytest.mark.parametrize("shape, dtype", [((7, 9, 5), np.uint8), ((24, 40), np.uint16), ((3, 4, 6), np.float32)])
@pytest.mark.parametrize("compressible", [True, False])
@pytest.mark.parametrize("block", [64, 1 << 16])
def test_lz4_chunks_read_back_through_the_hdf5_filter(tmp_path, shape, dtype, compressible, block):
    rng = np.random.default_rng(0)
    data = (rng.random(shape) * (4 if compressible else 60000)).astype(dtype)
    if compressible:
        data.flat[::3] = 0
    chunk, other = (c.tobytes() for c in Lz4Chunks(block)(data, data[::-1].copy()))
    stored_block = min(block, data.nbytes)
    assert int.from_bytes(chunk[:8], "big") == data.nbytes  # the filter's header: total, block size
    assert int.from_bytes(chunk[8:12], "big") == stored_block
    first = int.from_bytes(chunk[12:16], "big")  # the first block's stored size
    assert (first < stored_block) == compressible
    with h5py.File(tmp_path / "lz4.h5", "w") as f:
        dataset = f.create_dataset("x", (1, *shape), dtype, chunks=(1, *shape), **hdf5plugin.LZ4())
        dataset.id.write_direct_chunk((0,) * (len(shape) + 1), chunk)
        dataset = f.create_dataset("y", (1, *shape), dtype, chunks=(1, *shape), **hdf5plugin.LZ4())
        dataset.id.write_direct_chunk((0,) * (len(shape) + 1), other)
    with h5py.File(tmp_path / "lz4.h5", "r") as f:
        np.testing.assert_array_equal(f["x"][0], data)
        np.testing.assert_array_equal(f["y"][0], data[::-1])


def reference_metrics(step: int, world: World) -> np.ndarray:
    """The `sim.metrics.COLUMNS` rows of every organism, with plain numpy."""
    rows = []
    for organism in world.organisms:
        ys, xs = np.nonzero(world.owner == organism.index)
        mass = world.alpha[ys, xs].astype(np.float64).sum()
        if len(ys):
            rows.append([step, organism.index, len(ys), mass, ys.mean(), xs.mean(), ys.min(), xs.min(), ys.max(),
                         xs.max()])
        else:
            rows.append([step, organism.index, 0, 0.0, np.nan, np.nan, -1, -1, -1, -1])
    return np.array(rows)


def test_frames_owners_and_metrics_match_the_world_step_by_step(tmp_path):
    """Organisms grow, are cut and one dies: each frame is the quantised state of its step (rows
    emptied since the last frame included), each metric row a numpy measurement."""
    world = grown_world()
    expected_frames, expected_owners, expected_metrics = [], [], []
    with Recorder(tmp_path / "r.h5", world, scenario_text="", channels=[0, 1, 2, 3, 15], every=2,
                  keyframe_every=5, flush_every=3) as recorder:
        for step in range(14):
            if step == 4:
                kill(world, world.owner == 1)  # organism a dies: its rows empty
            if step == 9:
                upper = np.arange(world.height)[:, None] < 14
                kill(world, np.broadcast_to(upper, world.owner.shape))  # the upper rows empty
            recorder.observe(world)
            if step % 2 == 0:
                planes = world.state_view()[:, :, [0, 1, 2, 3, 15]].transpose(2, 0, 1)
                expected_frames.append((np.clip(planes, 0, 1) * 255 + 0.5).astype(np.uint8))
                expected_owners.append(world.owner.copy())
            expected_metrics.append(reference_metrics(world.step_count, world))
            world.step()
    with open_recording(tmp_path / "r.h5") as recording:
        assert len(recording) == 7 and list(recording.steps) == list(range(12, 26, 2))
        stored = recording.file["frames"]
        for i in range(7):
            np.testing.assert_array_equal(stored[i], expected_frames[i])
            np.testing.assert_array_equal(recording.owner(i), expected_owners[i])
        np.testing.assert_allclose(recording.metrics, np.concatenate(expected_metrics), rtol=1e-12)
        assert recording.metrics[recording.metrics[:, 1] == 1][-1, 2] == 0  # a is dead at the end


def record(path, world, steps, compression, dtype="uint8"):
    with Recorder(path, world, scenario_text="", channels=[0, 1, 2, 3], compression=compression, dtype=dtype,
                  keyframe_every=4, flush_every=3) as recorder:
        for _ in range(steps):
            recorder.observe(world)
            world.step()
    return open_recording(path)


def test_every_codec_records_the_same_run(tmp_path):
    codecs = ("lz4", "gzip", "lzf", "none")
    recordings = [record(tmp_path / f"{codec}.h5", grown_world(), 10, codec) for codec in codecs]
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


def test_float16_frames_hold_the_state_and_keyframes_hold_it_exactly(tmp_path):
    world = grown_world()
    state = world.state_view().copy()
    with record(tmp_path / "f16.h5", world, 3, "lz4", dtype="float16") as recording:
        np.testing.assert_allclose(recording.frame(0), state[:, :, :4], atol=1e-3)
        np.testing.assert_array_equal(recording.keyframe(0).state, state)


def damaged_recordings(folder):
    """Recordings broken in the ways a researcher meets them, each with the reason given."""
    good = folder / "good.h5"
    record(good, grown_world(), 4, "lz4").close()
    data = good.read_bytes()
    (folder / "truncated.h5").write_bytes(data[: len(data) // 2])
    (folder / "text.h5").write_text("frames,owner\n")
    for name, version in (("older.h5", 1), ("newer.h5", 99)):
        (folder / name).write_bytes(data)
        with h5py.File(folder / name, "r+") as f:
            f.attrs["format_version"] = version
    (folder / "gutted.h5").write_bytes(data)
    with h5py.File(folder / "gutted.h5", "r+") as f:
        del f["metrics"]
    return {"truncated.h5": "not a readable HDF5 recording", "text.h5": "not a readable HDF5 recording",
            "older.h5": "older than this nca-world reads", "newer.h5": "newer than this nca-world reads",
            "gutted.h5": "missing metrics"}


def test_damaged_recordings_are_refused_with_exit_code_2_and_no_traceback(tmp_path, capsys):
    from nca_world.sim.cli import main

    for name, reason in damaged_recordings(tmp_path).items():
        assert main(["analyze", str(tmp_path / name)]) == 2, name
        err = capsys.readouterr().err
        assert reason in err and name in err and "Traceback" not in err, err


def test_a_flush_every_n_steps_bounds_what_a_killed_run_loses(tmp_path):
    """With a frame every 3 steps and a flush every 4, a reader of the growing file sees the
    metrics of every step and the frames of every flushed step."""
    world = grown_world()  # at step 12
    recorder = Recorder(tmp_path / "live.h5", world, scenario_text="", channels=[0, 1, 2, 3], every=3,
                        keyframe_every=1000, flush_every=4)
    for _ in range(9):
        recorder.observe(world)
        world.step()
    with open_recording(tmp_path / "live.h5") as recording:  # two flushes so far: steps 12-19
        assert not recording.complete
        assert sorted(set(recording.metrics[:, 0])) == list(range(12, 20))
        assert list(recording.steps) == [12, 15, 18]
    recorder.close(complete=True)
    with open_recording(tmp_path / "live.h5") as recording:
        assert list(recording.steps) == [12, 15, 18] and recording.metrics[-1, 0] == 20 and recording.complete
