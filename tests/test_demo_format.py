"""Published Growing NCA demo models: decoding, the article's rule in plain numpy against the core,
refusals, export round trip, the library and scenario look-up by name."""

import base64
import json
from pathlib import Path

import numpy as np
import pytest

from nca_world.agents import library
from nca_world.agents.demo_format import decode_layer, demo_json, encode_layer, read_demo_model
from nca_world.agents.errors import ModelFileError
from nca_world.agents.firing import fire_mask
from nca_world.agents.modelfile import load_rule, save_rule
from nca_world.sim.cli import main
from nca_world.sim.scenario import load_scenario
from nca_world.sim.world import World


def demo_layers(rng: np.random.Generator, channels: int = 16, hidden: int = 32) -> list[dict]:
    """Two layers in the demo format with random bytes (as the article's files hold)."""
    layers = []
    for n_in, n_out, w_scale, b_scale in ((3 * channels, hidden, 0.6, 0.2), (hidden, channels, 0.3, 0.05)):
        data = rng.integers(0, 256, (n_in + 1) * n_out, dtype=np.uint8)
        layers.append({"in_ch": n_in, "out_ch": n_out, "type": "uint8", "weight_scale": w_scale,
                       "bias_scale": b_scale, "data_b64": base64.b64encode(data.tobytes()).decode()})
    return layers


def write(path: Path, layers: object) -> Path:
    path.write_text(json.dumps(layers))
    return path


def test_bytes_decode_to_the_documented_values():
    # 2 inputs, 1 output: rows are W[0], W[1], then the bias; bytes 0, 255, 51
    layer = {"in_ch": 2, "out_ch": 1, "type": "uint8", "weight_scale": 2.0, "bias_scale": 0.5,
             "data_b64": base64.b64encode(bytes([0, 255, 51])).decode()}
    w, b = decode_layer(layer, 0, Path("x.json"))
    assert w.shape == (2, 1) and b.shape == (1,)
    assert w[:, 0].tolist() == pytest.approx([-1.0, 1.0])  # (0/255 - 0.5) * 2, (255/255 - 0.5) * 2
    assert b[0] == pytest.approx((51 / 255 - 0.5) * 0.5)


def article_step(x: np.ndarray, w1, b1, w2, b2, fire: np.ndarray) -> np.ndarray:
    """One step of the article's rule, written from its description with plain loops and numpy.

    Perception per cell: the 16 channels, then sum_ij SOBEL_X[i, j] x[y+i-1, x+j-1] / 8 for each
    channel, then the same with SOBEL_Y (zero outside the grid); dx = relu(p W1 + b1) W2 + b2;
    x + dx where the cell fires; then cells whose 3x3 max alpha was <= 0.1 before or after are 0.
    """
    height, width, c = x.shape
    sobel_x = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], np.float64) / 8
    sobel_y = sobel_x.T
    padded = np.zeros((height + 2, width + 2, c))
    padded[1:-1, 1:-1] = x

    def alive(state: np.ndarray) -> np.ndarray:
        a = np.zeros((height + 2, width + 2))
        a[1:-1, 1:-1] = state[..., 3]
        return np.array([[a[y:y + 3, v:v + 3].max() > 0.1 for v in range(width)] for y in range(height)])

    out = x.astype(np.float64).copy()
    for y in range(height):
        for v in range(width):
            window = padded[y:y + 3, v:v + 3]
            p = np.concatenate([x[y, v], (window * sobel_x[..., None]).sum((0, 1)),
                                (window * sobel_y[..., None]).sum((0, 1))])
            if fire[y, v]:
                out[y, v] += np.maximum(p @ w1 + b1, 0) @ w2 + b2
    keep = alive(x) & alive(out)
    return (out * keep[..., None]).astype(np.float32)


def test_an_imported_model_steps_like_the_articles_rule_in_the_numba_core(tmp_path):
    rule = read_demo_model(write(tmp_path / "ex3_gecko.json", demo_layers(np.random.default_rng(0))))
    size = 12
    world = World(size, size, species={"demo": rule}, seed=4)
    world.spawn("o", "demo", (6, 6))
    x = world.state.copy()
    alive_seen = 0
    for _ in range(8):
        fire = fire_mask(world.seed, world.step_count, size, size, 0.5)
        x = article_step(x, rule.w1.astype(np.float64), rule.b1, rule.w2.astype(np.float64), rule.b2, fire)
        world.step()
        np.testing.assert_allclose(world.state, x, atol=2e-5)
        alive_seen = max(alive_seen, int((x[..., 3] > 0.1).sum()))
    assert alive_seen > 1  # the comparison covered more than the seed cell


def test_import_writes_a_model_with_its_card_and_never_overwrites(tmp_path, capsys):
    source = write(tmp_path / "ex1_lizard.json", demo_layers(np.random.default_rng(1)))
    assert main(["import", str(source), "--out", str(tmp_path / "lib"), "--licence", "CC-BY 4.0"]) == 0
    rule = load_rule(tmp_path / "lib" / "ex1_lizard.h5")
    card = rule.provenance["imported"]
    assert card["source"] == "ex1_lizard.json" and card["licence"] == "CC-BY 4.0" and len(card["sha256"]) == 64
    assert rule.spec.channels == 16 and rule.spec.identity_channels == 0 and rule.spec.hidden == 32
    assert "licence: CC-BY 4.0" in (tmp_path / "lib" / "ex1_lizard.md").read_text()
    before = (tmp_path / "lib" / "ex1_lizard.h5").read_bytes()
    assert main(["import", str(source), "--out", str(tmp_path / "lib")]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (tmp_path / "lib" / "ex1_lizard.h5").read_bytes() == before


def _layer_edit(key: str, value: object, layer: int = 0):
    def edit(layers: list) -> list:
        layers[layer][key] = value
        return layers
    return edit


@pytest.mark.parametrize(("name", "edit", "message"), [
    ("type", _layer_edit("type", "float32"), "layer 0: type: expected 'uint8', got 'float32'"),
    ("nan_scale", _layer_edit("weight_scale", float("nan")), "layer 0: weight_scale: expected a positive finite"),
    ("negative_scale", _layer_edit("bias_scale", -1.0, 1), "layer 1: bias_scale: expected a positive finite"),
    ("bad_base64", _layer_edit("data_b64", "not base64!"), "layer 0: data_b64: not valid base64"),
    ("short_data", _layer_edit("data_b64", base64.b64encode(b"abc").decode()), "expected (in_ch + 1) * out_ch"),
    ("in_ch_string", _layer_edit("in_ch", "48"), "layer 0: in_ch: expected an integer"),
    ("missing_key", lambda layers: [{k: v for k, v in layers[0].items() if k != "bias_scale"}, layers[1]],
     "layer 0: missing key(s) bias_scale"),
    ("three_layers", lambda layers: [*layers, layers[1]], "expected 2 layers"),
    ("one_layer", lambda layers: layers[:1], "expected 2 layers"),
    ("not_a_list", lambda layers: {"layers": layers}, "expected a JSON list of 2 layers"),
    ("layer_not_object", lambda layers: [layers[0], 7], "layer 1: expected a JSON object"),
    ("hidden_mismatch", lambda layers: [layers[0], demo_layers(np.random.default_rng(2), hidden=8)[1]],
     "layer 1: in_ch: expected layer 0's out_ch (32), got 8"),
    ("perception_mismatch", lambda layers: [demo_layers(np.random.default_rng(2), channels=12)[0], layers[1]],
     "layer 0: in_ch: expected 3 x the update's 16 channels (48), got 36"),
])
def test_malformed_demo_files_are_refused_with_file_and_reason(tmp_path, capsys, name, edit, message):
    path = write(tmp_path / f"{name}.json", edit(demo_layers(np.random.default_rng(3))))
    with pytest.raises(ModelFileError) as caught:
        read_demo_model(path)
    assert str(caught.value).startswith(str(path)) and message in str(caught.value)
    assert main(["import", str(path), "--out", str(tmp_path / "lib")]) == 2
    assert "Traceback" not in capsys.readouterr().err and not (tmp_path / "lib").exists()


def test_not_json_is_refused(tmp_path):
    (tmp_path / "x.json").write_bytes(b"\x89PNG\r\n")
    with pytest.raises(ModelFileError, match=r"x\.json: not a JSON file"):
        read_demo_model(tmp_path / "x.json")


def test_export_round_trip_reports_the_quantisation_error(tmp_path, capsys):
    source = write(tmp_path / "source.json", demo_layers(np.random.default_rng(5)))
    imported = read_demo_model(source)
    text, error = demo_json(imported)
    again = read_demo_model(write(tmp_path / "again.json", json.loads(text)))
    for name in ("w1", "b1", "w2", "b2"):
        original, copy = getattr(imported, name), getattr(again, name)
        step = 2 * np.abs(original).max() / 255  # one byte of the exported scale
        assert np.abs(original - copy).max() <= step / 2 + 1e-6
    assert 0 < error.rms_error <= error.max_error <= 0.6 * 2 / 255
    save_rule(imported, tmp_path / "m.h5")
    assert main(["export", str(tmp_path / "m.h5"), "--format", "demo-json", "--grow-steps", "20"]) == 0
    out = capsys.readouterr().out
    assert "m.json" in out and "max error" in out and "RGBA MSE against the unquantised model" in out
    assert main(["export", str(tmp_path / "m.h5"), "--format", "demo-json"]) == 2  # m.json exists now


def test_export_refuses_rules_the_format_cannot_hold(tmp_path, capsys):
    from nca_world.agents.spec import Rule, RuleSpec

    save_rule(Rule.random(RuleSpec(channels=17, hidden=8, identity_channels=1), seed=0), tmp_path / "id.h5")
    assert main(["export", str(tmp_path / "id.h5"), "--format", "demo-json"]) == 2
    assert "identity_channels: expected 0" in capsys.readouterr().err
    assert not (tmp_path / "id.json").exists()


def test_encode_picks_scales_from_the_largest_magnitudes():
    layer = encode_layer(np.array([[0.25], [-0.5]], np.float32), np.array([0.1], np.float32))
    assert layer["weight_scale"] == pytest.approx(1.0) and layer["bias_scale"] == pytest.approx(0.2)
    assert list(base64.b64decode(layer["data_b64"])) == [191, 0, 255]  # 0.75, 0.0, 1.0 of 255, rounded


def test_library_precedence_and_scenarios_naming_library_models(tmp_path, monkeypatch, scenario_dir, capsys):
    user, added = tmp_path / "user", tmp_path / "added"
    rule = read_demo_model(write(tmp_path / "m.json", demo_layers(np.random.default_rng(6))))
    save_rule(rule, user / "mine.h5")
    save_rule(rule, user / "gecko-B.h5")  # shadows the zoo's gecko-B
    save_rule(rule, added / "mine.h5")
    monkeypatch.setenv("NCA_WORLD_MODELS", str(user))
    monkeypatch.delenv("NCA_WORLD_MODEL_PATH", raising=False)
    assert library.find("mine") == user / "mine.h5" and library.find("cross") == library.ZOO / "cross.h5"
    assert library.find("gecko-B") == user / "gecko-B.h5" and library.find("nothing") is None
    monkeypatch.setenv("NCA_WORLD_MODEL_PATH", str(added))
    assert library.find("mine") == added / "mine.h5"
    text = (scenario_dir / "base.toml").read_text().replace('model = "grow.h5"', 'model = "mine"')
    (scenario_dir / "lib.toml").write_text(text)
    assert load_scenario(scenario_dir / "lib.toml").rules["g"].spec.hidden == 32
    (scenario_dir / "typo.toml").write_text(text.replace('"mine"', '"mnie"'))
    assert main(["validate", str(scenario_dir / "typo.toml")]) == 2
    assert "species.0.model: expected a model file (relative to the scenario) or a library name" in \
        capsys.readouterr().err
    assert main(["models"]) == 0
    listing = capsys.readouterr().out
    assert "mine" in listing and "cross" in listing and str(added) in listing
