"""`nca-world models --sheet`: one labelled tile per model, grown from its seed."""

import dataclasses

import numpy as np
import pytest
from PIL import Image

from nca_world.agents import library
from nca_world.agents.modelfile import load_rule, save_rule
from nca_world.agents.spec import Rule, RuleSpec
from nca_world.sim.cli import main
from nca_world.sim.contact_sheet import GAP, LABEL_HEIGHT, TILE, grow
from tests.test_world import grower


@pytest.fixture
def models_folder(tmp_path, monkeypatch):
    """A library of a growing rule, a rule with an 8x8 target and an unreadable file."""
    folder = tmp_path / "lib"
    folder.mkdir()
    save_rule(grower(), folder / "grow.h5")
    target = np.zeros((8, 8, 4), np.float32)
    save_rule(dataclasses.replace(Rule.random(RuleSpec(hidden=8), seed=1), target=target), folder / "small.h5")
    (folder / "broken.h5").write_text("not a model")
    monkeypatch.setenv("NCA_WORLD_MODEL_PATH", str(folder))
    monkeypatch.setenv("NCA_WORLD_MODELS", str(tmp_path / "user"))
    monkeypatch.setattr(library, "ZOO", tmp_path / "no-zoo")
    return folder


def test_the_organism_grows_on_a_grid_twice_its_training_size(models_folder):
    picture, identity = grow(load_rule(models_folder / "grow.h5"), steps=3)
    assert picture.shape == (72, 72, 3) and identity == []  # no target: 36 cells, doubled
    assert picture[36, 36].max() < 200 and (picture[0, 0] == 255).all()  # the seed grew, the corner is empty
    small, _ = grow(load_rule(models_folder / "small.h5"), steps=1)
    assert small.shape == (16, 16, 3)  # an 8x8 target, doubled


def test_a_sheet_of_the_library_skips_the_unreadable_model_with_a_note(models_folder, tmp_path, capsys):
    out = tmp_path / "sheet.png"
    assert main(["models", "--sheet", str(out), "--steps", "3"]) == 0
    assert "broken: skipped" in capsys.readouterr().err
    image = np.asarray(Image.open(out).convert("RGB"))
    assert image.shape == (TILE + LABEL_HEIGHT, 2 * TILE + GAP, 3)  # one tile per readable model, in a row
    first = image[:TILE, :TILE]
    assert first[TILE // 2, TILE // 2].max() < 200 and (first[5, 5] == 255).all()  # "grow" (sorted first) grew
    labels = image[TILE:, :TILE]
    assert (labels != labels[0, 0]).any(2).sum() > 30  # the label has text


def test_an_existing_sheet_is_kept_unless_overwrite(models_folder, tmp_path, capsys):
    out = tmp_path / "sheet.png"
    out.write_bytes(b"earlier")
    assert main(["models", "--sheet", str(out), "--steps", "1", "grow"]) == 2
    assert "already exists" in capsys.readouterr().err and out.read_bytes() == b"earlier"
    assert main(["models", "--sheet", str(out), "--steps", "1", "--overwrite", "grow"]) == 0
    assert Image.open(out).size == (TILE, TILE + LABEL_HEIGHT)


def test_a_named_bad_model_or_output_is_refused_with_the_reason(models_folder, tmp_path, capsys):
    out = tmp_path / "sheet.png"
    assert main(["models", "--sheet", str(out), "grow", str(models_folder / "broken.h5")]) == 2
    assert "broken.h5: not a readable nca-world model file" in capsys.readouterr().err
    assert main(["models", "--sheet", str(out), "nothing-by-that-name"]) == 2
    assert "nothing-by-that-name: expected a model file or a library name" in capsys.readouterr().err
    assert main(["models", "--sheet", str(tmp_path / "sheet.jpg"), "grow"]) == 2
    assert "expected a .png file" in capsys.readouterr().err
    assert not out.exists()
