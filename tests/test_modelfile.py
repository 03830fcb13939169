import json

import h5py
import numpy as np
import pytest

from nca_world.agents.errors import ModelFileError
from nca_world.agents.modelfile import load_rule, save_rule
from nca_world.agents.spec import RuleSpec
from tests.conftest import lively_rule


@pytest.fixture
def model(tmp_path):
    spec = RuleSpec(channels=17, hidden=24, identity_channels=1, fire_rate=0.4, boundary="wrap")
    rule = lively_rule(spec, seed=1)
    rule = type(rule)(spec, rule.w1, rule.b1, rule.w2, rule.b2, target=np.ones((5, 6, 4), np.float32),
                      provenance={"variant": "C", "loss": [0.5, 0.25]})
    return rule, save_rule(rule, tmp_path / "m.h5")


def test_round_trip_keeps_everything(model):
    rule, path = model
    back = load_rule(path)
    assert back.spec == rule.spec
    for name, array in rule.weights().items():
        np.testing.assert_array_equal(back.weights()[name], array)
    np.testing.assert_array_equal(back.target, rule.target)
    assert back.provenance == {"variant": "C", "loss": [0.5, 0.25]}


def _edit(path, action):
    with h5py.File(path, "a") as f:
        action(f)


def _set_spec(f, **changes):
    spec = json.loads(f.attrs["spec"])
    spec.update(changes)
    f.attrs["spec"] = json.dumps(spec)


def _replace(f, name, data):
    del f[name]
    f[name] = data


@pytest.mark.parametrize(("action", "message"), [
    (lambda f: _replace(f, "w1", np.zeros((3, 3), np.float32)), r"w1: expected shape \(51, 24\)"),
    (lambda f: _replace(f, "b2", np.full(17, np.nan, np.float32)), "b2: contains NaN"),
    (lambda f: f.attrs.__setitem__("format_version", 99), "newer than this nca-world reads"),
    (lambda f: f.attrs.__setitem__("format", "keras"), "format: expected 'nca-world-model'"),
    (lambda f: f.__delitem__("w2"), "w2: missing dataset"),
    (lambda f: f.attrs.__delitem__("spec"), "spec: missing attribute"),
    (lambda f: f.attrs.__setitem__("spec", "{not json"), "spec: expected JSON"),
    (lambda f: _set_spec(f, hidden=None), "hidden: expected a positive integer"),
    (lambda f: _set_spec(f, colour="red"), "unknown field"),
    (lambda f: _set_spec(f, perception="laplacian"), "perception"),
])
def test_bad_model_files_are_refused_with_a_reason(model, action, message):
    _, path = model
    _edit(path, action)
    with pytest.raises(ModelFileError, match=message) as caught:
        load_rule(path)
    assert str(path) in str(caught.value)


def test_missing_truncated_and_foreign_files_are_refused(model, tmp_path):
    _, path = model
    with pytest.raises(ModelFileError, match="no such model file"):
        load_rule(tmp_path / "nope.h5")
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(ModelFileError, match="not a readable nca-world model file"):
        load_rule(truncated)
    text = tmp_path / "notes.h5"
    text.write_text("hello")
    with pytest.raises(ModelFileError, match="not a readable"):
        load_rule(text)
