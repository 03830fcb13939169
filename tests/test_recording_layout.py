"""A reader checks every dataset's dtype and shape against the root attributes: a damaged
recording is refused with the dataset, what was expected and what was found."""

import json

import h5py
import numpy as np
import pytest

from nca_world.agents.errors import RecordingError
from nca_world.sim.recording import open_recording
from tests.test_recorder import grown_world, record


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    path = tmp_path_factory.mktemp("layout") / "good.h5"
    record(path, grown_world(), 6, "lz4").close()
    return path


def replace(f, name, data, **options):
    """Dataset `name` again, with `data` (growable along its first axis)."""
    del f[name]
    f.create_dataset(name, data=data, maxshape=(None, *data.shape[1:]), **options)


def frames_as_float32(f):
    replace(f, "frames", f["frames"][()].astype(np.float32))


def frames_as_float16_attribute(f):
    f.attrs["dtype"] = "float16"


def height_attribute(f):
    f.attrs["height"] = 25


def fewer_channels_attribute(f):
    f.attrs["channels"] = json.dumps([0, 1, 2])


def owner_as_int32(f):
    replace(f, "owner", f["owner"][()].astype(np.int32))


def owner_too_narrow(f):
    replace(f, "owner", f["owner"][:, :, :39])


def step_as_float(f):
    replace(f, "step", f["step"][()].astype(np.float64))


def metrics_missing_a_column(f):
    replace(f, "metrics", f["metrics"][:, :9])


def keyframe_state_channels(f):
    replace(f, "keyframes/state", f["keyframes/state"][:, :15])


def keyframe_owner_as_uint16(f):
    replace(f, "keyframes/owner", f["keyframes/owner"][()].astype(np.uint16))


def events_as_integers(f):
    replace(f, "events", np.zeros(len(f["events"]), np.int64))


def organisms_as_numbers(f):
    replace(f, "keyframes/organisms", np.zeros(len(f["keyframes/organisms"]), np.int64))


def frames_shorter_than_step(f):
    replace(f, "frames", f["frames"][:3], chunks=(1, *f["frames"].shape[1:]))


def keyframe_state_shorter_than_steps(f):
    replace(f, "keyframes/state", f["keyframes/state"][:1])


def dtype_attribute_unknown(f):
    f.attrs["dtype"] = "int8"


def channels_attribute_not_json(f):
    f.attrs["channels"] = "rgba"


def channel_beyond_the_models(f):
    f.attrs["channels"] = json.dumps([0, 1, 2, 16])


def frames_as_a_group(f):
    del f["frames"]
    f.create_group("frames")


DAMAGES = {  # damage: the words the refusal must hold
    frames_as_float32: "/frames: expected dtype uint8 (from the attributes channels, height, width, dtype), "
                       "got float32",
    frames_as_float16_attribute: "/frames: expected dtype float16 (from the attributes",
    height_attribute: "/frames: expected shape (N, 4, 25, 40)",
    fewer_channels_attribute: "/frames: expected shape (N, 3, 24, 40)",
    owner_as_int32: "/owner: expected dtype uint16 (from the attributes height, width), got int32",
    owner_too_narrow: "/owner: expected shape (N, 24, 40) (from the attributes height, width), got (6, 24, 39)",
    step_as_float: "/step: expected dtype int64 (from the format), got float64",
    metrics_missing_a_column: "/metrics: expected shape (N, 10) (from the metric columns), got (12, 9)",
    keyframe_state_channels: "/keyframes/state: expected shape (N, 16, 24, 40) (from the models' channels",
    keyframe_owner_as_uint16: "/keyframes/owner: expected dtype int32",
    events_as_integers: "/events: expected dtype |S1024 (from the format), got int64",
    organisms_as_numbers: "/keyframes/organisms: expected dtype object",
    frames_shorter_than_step: "/frames: expected at least 6 entries (as /step counts), got 3",
    keyframe_state_shorter_than_steps: "/keyframes/state: expected at least 2 entries (as /keyframes/step counts)",
    dtype_attribute_unknown: "attribute dtype: expected one of ['uint8', 'float16'], got 'int8'",
    channels_attribute_not_json: "attribute channels: expected a JSON list of channel numbers, got 'rgba'",
    channel_beyond_the_models: "attribute channels: expected channels 0..15 (the models'), got [0, 1, 2, 16]",
    frames_as_a_group: "/frames: expected a dataset, got a group",
}


def test_the_good_recording_opens(good):
    with open_recording(good) as recording:
        assert len(recording) == 6 and recording.frame(5).shape == (24, 40, 4)


@pytest.mark.parametrize("damage", DAMAGES, ids=[d.__name__ for d in DAMAGES])
def test_each_mismatch_is_refused_with_its_reason(good, tmp_path, damage):
    path = tmp_path / f"{damage.__name__}.h5"
    path.write_bytes(good.read_bytes())
    with h5py.File(path, "r+") as f:
        damage(f)
    with pytest.raises(RecordingError) as refused:
        open_recording(path)
    assert str(refused.value).startswith(f"{path}: {DAMAGES[damage]}"), str(refused.value)


def test_the_command_line_refuses_a_mismatch_in_one_line(good, tmp_path, capsys):
    from nca_world.sim.cli import main

    path = tmp_path / "float-frames.h5"
    path.write_bytes(good.read_bytes())
    with h5py.File(path, "r+") as f:
        frames_as_float32(f)
    assert main(["run", "--from", str(path), "--at", "2"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"nca-world: error: {path}: /frames: expected dtype uint8") and "Traceback" not in err
    assert not list(tmp_path.glob("float-frames.fork*"))  # nothing written
