"""Where a recording goes: it never replaces anything but a recording (and that only with
--overwrite), never its fork's source, and one recording has one writer at a time."""

import os
import signal
import subprocess
import sys
import time

import pytest

from nca_world.agents.errors import RecordingError
from nca_world.sim.cli import main
from nca_world.sim.recorder import Recorder
from nca_world.sim.recording import open_recording
from nca_world.sim.runner import fork, run_scenario
from nca_world.sim.scenario import load_scenario
from tests.test_recorder import grown_world


def refused(argv, capsys, *reason):
    """Run the command line; it must exit 2 with one line holding every part of `reason`."""
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("nca-world: error: ") and "Traceback" not in err and err.count("\n") == 1, err
    for part in reason:
        assert part in err, err
    return err


def test_nothing_but_a_recording_is_ever_overwritten(scenario_dir, capsys, monkeypatch):
    monkeypatch.chdir(scenario_dir)
    (scenario_dir / "results.md").write_text("# results\n")
    (scenario_dir / "folder").mkdir()
    before = {name: (scenario_dir / name).read_bytes() for name in ("results.md", "base.toml", "grow.h5")}
    refused(["run", "base.toml", "--out", "results.md", "--overwrite"], capsys,
            "results.md: record.path: expected a new file or an nca-world recording, got an existing file that is "
            "not HDF5; it is never overwritten")
    refused(["run", "base.toml", "--out", "base.toml"], capsys, "base.toml: record.path:", "not HDF5")
    refused(["run", "base.toml", "--out", "grow.h5", "--overwrite"], capsys,
            "grow.h5: record.path:", "got an HDF5 file of format 'nca-world-model'")  # a model file
    refused(["run", "base.toml", "--out", "folder"], capsys, "folder: record.path: expected a file name, got a folder")
    for name, data in before.items():
        assert (scenario_dir / name).read_bytes() == data, name
    assert sorted(p.name for p in scenario_dir.iterdir()) == ["base.toml", "folder", "grow.h5", "other.h5",
                                                              "results.md"]  # no recording, no lock left


def test_an_existing_recording_is_replaced_only_with_overwrite(scenario_dir, capsys, monkeypatch):
    monkeypatch.chdir(scenario_dir)
    assert main(["run", "base.toml", "--steps", "4", "--out", "r.h5"]) == 0
    data = (scenario_dir / "r.h5").read_bytes()
    refused(["run", "base.toml", "--steps", "6", "--out", "r.h5"], capsys,
            "r.h5: record.path: expected a new file, got an existing recording (give --overwrite to replace it)")
    assert (scenario_dir / "r.h5").read_bytes() == data
    assert main(["run", "base.toml", "--steps", "6", "--out", "r.h5", "--overwrite"]) == 0
    with open_recording(scenario_dir / "r.h5") as recording:
        assert list(recording.steps) == list(range(7)) and recording.complete
    assert not (scenario_dir / "r.h5.lock").exists()
    with pytest.raises(RecordingError, match="expected a new file, got an existing recording"):
        run_scenario(load_scenario(scenario_dir / "base.toml"), out=scenario_dir / "r.h5", overwrite="never")
    with pytest.raises(RecordingError, match="overwrite: expected one of"):
        run_scenario(load_scenario(scenario_dir / "base.toml"), out=scenario_dir / "r.h5", overwrite=True)


def test_a_fork_never_writes_its_source_and_by_default_writes_beside_it(scenario_dir, capsys, monkeypatch):
    monkeypatch.chdir(scenario_dir)
    run_scenario(load_scenario(scenario_dir / "base.toml"), steps=30, out=scenario_dir / "run.h5", progress=False)
    data = (scenario_dir / "run.h5").read_bytes()
    refused(["run", "--from", "run.h5", "--at", "12", "--out", "run.h5", "--overwrite"], capsys,
            "run.h5: record.path: expected a file other than the recording forked from, got the same file")
    (scenario_dir / "sub").mkdir()
    os.symlink(scenario_dir / "run.h5", scenario_dir / "sub" / "alias.h5")  # the same file under another name
    with pytest.raises(RecordingError, match="other than the recording forked from"):
        fork(scenario_dir / "run.h5", 12, out=scenario_dir / "sub" / "alias.h5", progress=False)
    assert main(["run", "--from", "run.h5", "--at", "12", "--steps", "20"]) == 0
    assert f"recording to {scenario_dir / 'run.fork-at-12.h5'}" in capsys.readouterr().out
    assert main(["run", "--from", "run.h5", "--at", "12", "--steps", "20"]) == 0  # never an existing file
    assert f"recording to {scenario_dir / 'run.fork-at-12-2.h5'}" in capsys.readouterr().out
    assert (scenario_dir / "run.h5").read_bytes() == data
    with open_recording(scenario_dir / "run.h5") as source, open_recording(scenario_dir / "run.fork-at-12-2.h5") as b:
        assert list(b.steps) == list(range(21)) and b.complete
        assert all((source.frame(i) == b.frame(i)).all() for i in range(21))  # same scenario: the same run


def test_a_second_writer_of_one_recording_is_refused(tmp_path):
    world = grown_world()
    path = tmp_path / "r.h5"
    with Recorder(path, world, scenario_text="", channels=[0, 1, 2, 3], flush_every=2) as first:
        first.observe(world)
        with pytest.raises(RecordingError) as second:
            Recorder(path, grown_world(), scenario_text="", channels=[0, 1, 2, 3])
        assert str(second.value).startswith(f"{path}: writer: expected no other run writing this recording, got "
                                            f"process {os.getpid()} (lock {path}.lock)")
        os.symlink(path, tmp_path / "alias.h5")  # another name of the same file shares its lock
        with pytest.raises(RecordingError, match=f"writer: expected no other run writing this recording, got "
                                                 f"process {os.getpid()}"):
            Recorder(tmp_path / "alias.h5", grown_world(), scenario_text="", channels=[0, 1, 2, 3])
        for _ in range(4):
            world.step()
            first.observe(world)
    with open_recording(path) as recording:  # the first writer's file is whole
        assert recording.complete and list(recording.steps) == [12, 13, 14, 15, 16]
    assert not (tmp_path / "r.h5.lock").exists()
    Recorder(path, grown_world(), scenario_text="", channels=[0, 1, 2, 3]).close(True)  # free again


def test_two_processes_cannot_write_one_recording(scenario_dir, capsys, monkeypatch):
    """A real run writes out.h5; a second run of the same scenario is refused and names the
    first; the first's file stays valid. A killed writer's lock is gone with it."""
    monkeypatch.chdir(scenario_dir)
    (scenario_dir / "long.toml").write_text((scenario_dir / "base.toml").read_text().replace("steps = 40",
                                                                                             "steps = 100000"))
    process = subprocess.Popen([sys.executable, "-m", "nca_world.sim.cli", "run", "long.toml"], cwd=scenario_dir,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    path = scenario_dir / "out.h5"
    try:
        deadline = time.time() + 180
        while time.time() < deadline:
            time.sleep(0.5)
            try:
                with open_recording(path) as recording:
                    if len(recording) >= 2:
                        break
            except RecordingError:
                pass  # not there yet
        refused(["run", "long.toml", "--steps", "3", "--overwrite"], capsys,
                f"{path}: writer: expected no other run writing this recording, got process {process.pid}")
        with open_recording(path) as recording:  # still growing, and whole
            n = len(recording)
            assert n >= 2 and list(recording.steps) == list(range(n))
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    with open_recording(path) as recording:
        n = len(recording)
        assert not recording.complete and list(recording.steps) == list(range(n))
        assert recording.frame(n - 1).shape == (48, 64, 4)
    data = path.read_bytes()  # the kernel dropped the lock: the refusal now is that the run did not finish
    refused(["run", "long.toml", "--steps", "3", "--overwrite"], capsys,
            f"{path}: record.path: expected a new file or the recording of a finished run, got one whose run did "
            "not finish; it is not overwritten (resume it with run --from, or remove it)")
    assert path.read_bytes() == data
    with pytest.raises(RecordingError, match="expected a new file, got an existing recording"):  # the API too
        run_scenario(load_scenario(scenario_dir / "long.toml"), steps=3, progress=False)
    assert path.read_bytes() == data
    run_scenario(load_scenario(scenario_dir / "long.toml"), steps=3, progress=False, overwrite="any")
    with open_recording(path) as recording:
        assert recording.complete and len(recording) == 4


def test_a_recording_replaced_while_a_reader_holds_it_is_replaced_whole(scenario_dir):
    """HDF5 truncates a file before it finds a reader's lock on it: the old recording was lost and
    the new one refused. Now the old file is unlinked, its reader reads it to its end, and the
    new recording is written whole."""
    scenario = load_scenario(scenario_dir / "base.toml")
    path = scenario_dir / "r.h5"
    run_scenario(scenario, steps=5, out=path, progress=False)
    with open_recording(path) as old:
        last = old.frame(5)
    reader = subprocess.Popen(
        [sys.executable, "-c", "import sys, h5py, hdf5plugin; f = h5py.File(sys.argv[1], 'r'); print(len(f['step']), "
         "flush=True); input(); print(len(f['step']), int(f['frames'][5].sum()), flush=True)", str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert reader.stdout.readline().strip() == "6"  # the reader holds the old file open
        run_scenario(scenario, steps=2, out=path, overwrite="finished", progress=False)
        out, _ = reader.communicate("\n", timeout=60)
    finally:
        reader.kill()
    assert out.split() == ["6", str(int((last * 255 + 0.5).astype(int).sum()))]  # it read the old one to its end
    with open_recording(path) as new:
        assert new.complete and list(new.steps) == [0, 1, 2]
