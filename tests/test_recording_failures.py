"""Writing that fails (a file-size limit, a full disk) ends the run with exit code 2 and the path,
and what was flushed before stays readable; a recording with nothing to fork from is refused."""

import subprocess
import sys

import h5py
import numpy as np
import pytest

from nca_world.agents.errors import RecordingError
from nca_world.sim.cli import main
from nca_world.sim.recorder import Recorder
from nca_world.sim.recording import open_recording
from nca_world.sim.runner import run_scenario
from nca_world.sim.scenario import load_scenario
from tests.test_recorder import grown_world

LIMITED = """
import resource, signal, sys
from nca_world.agents.errors import RecordingError
from nca_world.sim.cli import main
from nca_world.sim.recorder_datasets import DatasetWriter
if sys.argv[2] != "foreseen-signal":  # left alone, a write past the limit kills the process
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # ignored, such a write fails with EFBIG
main(["run", "base.toml", "--steps", "1", "--out", "warm.h5"])  # compiled (and cached) before the limit
limit = int(sys.argv[1])
if sys.argv[2] == "unforeseen":
    DatasetWriter.reserve = lambda self, nbytes: None  # as if the disk filled up from elsewhere
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
sys.exit(main(["run", "base.toml", "--out", "limited.h5"]))
"""


@pytest.fixture
def reference(scenario_dir):
    """The whole run, recorded without a limit."""
    run_scenario(load_scenario(scenario_dir / "base.toml"), out=scenario_dir / "reference.h5", progress=False)
    return open_recording(scenario_dir / "reference.h5")


@pytest.mark.parametrize("failure, limit, reason", [
    ("foreseen", 720_000, "file size: expected at most 720000 bytes (the file-size limit, ulimit -f), got "),
    ("foreseen-signal", 720_000, "file size: expected at most 720000 bytes (the file-size limit, ulimit -f), "),
    ("unforeseen", 660_000, "writing failed ("),
])
def test_a_file_size_limit_stops_the_run_and_keeps_what_was_flushed(scenario_dir, reference, failure, limit,
                                                                    reason):
    done = subprocess.run([sys.executable, "-c", LIMITED, str(limit), failure], cwd=scenario_dir,
                          capture_output=True, text=True, timeout=300)
    path = scenario_dir / "limited.h5"
    assert done.returncode == 2, done.stderr[-2000:]  # not 1 (a traceback) nor 139 (h5py crashing at exit)
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"nca-world: error: {path}: {reason}") and "Traceback" not in done.stderr, last
    assert "the file keeps" in last
    assert path.stat().st_size <= limit and not (scenario_dir / "limited.h5.lock").exists()
    with open_recording(path) as recording, reference:
        n = len(recording)
        assert not recording.complete and 5 <= n < len(reference)
        assert f"the file keeps {n} frames (steps 0..{n - 1})" in last or failure == "unforeseen"
        assert n >= 15  # stopped near the limit (64 KiB kept for metadata), not at the first flush
        assert list(recording.steps) == list(range(n))
        for i in range(n):
            np.testing.assert_array_equal(recording.frame(i), reference.frame(i))
            np.testing.assert_array_equal(recording.owner(i), reference.owner(i))
        rows = recording.metrics
        np.testing.assert_array_equal(rows, reference.metrics[: len(rows)])
        assert rows[-1, 0] >= n - 1
        keyed = list(recording.keyframe_steps)  # every 10 steps; the one due at the failure may be missing
        assert keyed == list(reference.keyframe_steps[: len(keyed)]) and n - 11 <= keyed[-1] <= n - 1
        np.testing.assert_array_equal(recording.keyframe(len(keyed) - 1).state,
                                      reference.keyframe(len(keyed) - 1).state)
    data = path.read_bytes()  # the record of a run that did not finish: kept even with --overwrite
    assert main(["run", str(scenario_dir / "base.toml"), "--out", str(path), "--overwrite"]) == 2
    assert path.read_bytes() == data


def test_a_full_disk_stops_the_recording_before_a_write_it_would_cut_short(tmp_path, monkeypatch):
    import shutil

    world = grown_world()
    path = tmp_path / "r.h5"
    recorder = Recorder(path, world, scenario_text="", channels=[0, 1, 2, 3], flush_every=2, keyframe_every=100)
    for _ in range(4):  # two flushes: steps 12..15
        recorder.observe(world)
        world.step()
    free = shutil.disk_usage(tmp_path).free
    monkeypatch.setattr(shutil, "disk_usage", lambda folder: shutil._ntuple_diskusage(free, free - 1000, 1000))
    with pytest.raises(RecordingError) as refused:
        for _ in range(4):
            recorder.observe(world)
            world.step()
    assert str(refused.value).startswith(f"{path}: disk space: expected ")
    assert str(refused.value).endswith(", got 1000; recording stopped, the file keeps 4 frames (steps 12..15)")
    recorder.observe(world)  # nothing more is written, and no second error
    recorder.close(complete=True)
    with open_recording(path) as recording:
        assert not recording.complete and list(recording.steps) == [12, 13, 14, 15]
        assert sorted(set(recording.metrics[:, 0])) == [12, 13, 14, 15]
    assert not (tmp_path / "r.h5.lock").exists()


def test_nothing_to_fork_from_is_refused_with_the_reason(scenario_dir, capsys, monkeypatch):
    monkeypatch.chdir(scenario_dir)
    world = grown_world()
    Recorder(scenario_dir / "empty.h5", world, scenario_text="", channels=[0, 1, 2, 3]).close(complete=False)
    run_scenario(load_scenario(scenario_dir / "base.toml"), steps=4, out=scenario_dir / "cut.h5", progress=False)
    with h5py.File(scenario_dir / "cut.h5", "r+") as f:  # killed in its first flush: a keyframe, no frame yet
        f["step"].resize(0, axis=0)
    for name in ("empty.h5", "cut.h5"):
        capsys.readouterr()
        assert main(["run", "--from", name, "--at", "0"]) == 2
        err = capsys.readouterr().err
        assert err == (f"nca-world: error: {name}: keyframes: expected at least one to fork from, got none (the run "
                       "stopped before its first flush)\n")
    assert sorted(p.name for p in scenario_dir.glob("*.h5*")) == ["cut.h5", "empty.h5", "grow.h5", "other.h5"]
