"""`add_species`: a species joins a running world; validated, recorded with its model, replayed,
analysed and forked exactly."""

import h5py
import numpy as np
import pytest

from nca_world.agents.errors import NcaWorldError, ScenarioError, WorldError
from nca_world.agents.modelfile import save_rule
from nca_world.agents.spec import Rule, RuleSpec
from nca_world.sim.added_models import INDEX
from nca_world.sim.recording import open_recording
from nca_world.sim.runner import Run, build_world, fork, restore_at, run_scenario
from nca_world.sim.scenario import load_scenario
from nca_world.sim.world import World
from tests.conftest import lively_rule
from tests.test_world import grower

ADDED = """
[[events]]
step = 6
kind = "add_species"
name = "late"
model = "late.h5"

[[events]]
step = 6
kind = "spawn"
name = "newcomer"
species = "late"
position = [36, 20]

[[events]]
step = 15
kind = "cut_circle"
center = [36, 20]
radius = 2
"""


def late() -> Rule:
    """A 16-channel rule with a wider hidden layer than `grower`'s that grows like it (hidden unit
    0 adds alpha) and also changes every other channel (random weights)."""
    lively = lively_rule(RuleSpec(hidden=24), seed=5, scale=0.05)
    w1, b1, w2 = lively.w1.copy(), lively.b1.copy(), lively.w2.copy()
    w1[:, 0], b1[0], w2[0] = 0.0, 1.0, 0.0
    w2[0, 3] = 0.3
    return Rule(lively.spec, w1, b1, w2, lively.b2)


@pytest.fixture
def added_dir(scenario_dir):
    """`base.toml` plus a species `late` (`late()`) added at step 6 and planted at once."""
    save_rule(late(), scenario_dir / "late.h5")
    text = (scenario_dir / "base.toml").read_text().replace("[run]", ADDED + "\n[run]")
    (scenario_dir / "added.toml").write_text(text)
    return scenario_dir


def test_a_species_added_to_a_world_grows_by_its_own_rule():
    world = World(12, 12, species={"g": grower()}, seed=1)
    world.spawn("a", "g", (3, 3))
    world.step(2)
    world.add_species("late", late())
    world.spawn("b", "late", (8, 8))
    world.step(3)
    alone = World(12, 12, species={"g": grower(), "late": late()}, seed=1)
    alone.spawn("a", "g", (3, 3))
    alone.step(2)
    alone.spawn("b", "late", (8, 8))
    alone.step(3)  # the same world with both species from the start
    np.testing.assert_array_equal(world.state, alone.state)
    np.testing.assert_array_equal(world.owner, alone.owner)
    with pytest.raises(WorldError, match="'g': the name is already taken"):
        world.add_species("g", grower())
    with pytest.raises(WorldError, match="expected 16 channels"):
        world.add_species("wide", lively_rule(RuleSpec(channels=17, hidden=8), seed=1))


def test_a_species_added_mid_run_is_recorded_replayed_analysed_and_forked_exactly(added_dir):
    scenario = load_scenario(added_dir / "added.toml")
    summary = run_scenario(scenario, out=added_dir / "added.h5", progress=False)
    assert dict(summary.organisms)["newcomer"] > 1
    direct = Run(scenario, build_world(scenario), None)  # the same run without a recorder, step by step
    with open_recording(summary.recording) as recording:
        assert list(recording.file["models"]) == ["g"]  # the world's species when the file was created ...
        assert len(recording.file[INDEX]) == 1  # ... and the added one, appended while recording
        models = recording.models
        np.testing.assert_array_equal(models["late"].w1, scenario.added["late"].w1)
        added = [r for r in recording.events if r["event"]["kind"] == "add_species"]
        assert added == [{"step": 6, "source": "scenario", "effect": {"species_count": 2},
                          "event": {"kind": "add_species", "name": "late", "model": "late.h5"}}]
        for at in (5, 6, 13, 25):  # before, at, after the addition; keyframes at 0, 10, 20
            while direct.world.step_count < at:
                direct.advance()
            replayed = restore_at(recording, at).world
            direct.apply_scripted()  # restore_at returns the world after the step's events
            np.testing.assert_array_equal(replayed.state, direct.world.state)
            np.testing.assert_array_equal(replayed.owner, direct.world.owner)
            direct.observe()
            direct.step()
        from nca_world.sim.analysis import analyze

        table = analyze(recording).organisms
        newcomer = table[table["name"] == "newcomer"]
        assert newcomer["alive"].max() > 1 and newcomer.loc[newcomer["alive"].notna(), "step"].min() == 6
        last, original_frames = len(recording) - 1, [recording.frame(i) for i in range(len(recording))]
    fork(summary.recording, 13, None, out=added_dir / "forked.h5", progress=False)
    with open_recording(added_dir / "forked.h5") as forked:
        assert len(forked) == last + 1
        for i in range(14, last + 1):
            np.testing.assert_array_equal(forked.frame(i), original_frames[i])
        assert "late" in forked.models


def test_the_added_models_store_is_plain_arrays_and_json(added_dir):
    summary = run_scenario(load_scenario(added_dir / "added.toml"), out=added_dir / "added.h5", progress=False,
                           steps=8)
    with h5py.File(summary.recording, "r") as f:
        assert f["added_models/arrays"].dtype == np.float32
        assert b'"species": "late"' in f[INDEX][0]


@pytest.mark.parametrize(("change", "message"), [
    (('model = "late.h5"', 'model = "nowhere-at-all"'), "events.3.model: expected a model file"),
    (('model = "late.h5"', 'model = "other.h5"'), "events.3.model: expected 16 channels like the [[species]]"),
    (('step = 6\nkind = "spawn"', 'step = 5\nkind = "spawn"'),
     "events.newcomer.species: 'late' joins the world at events.3 (step 6): expected the organism planted after"),
    (('name = "late"', 'name = "g"'), "species: the name 'g' is used twice"),
    (('step = 6\nkind = "add_species"', 'every = 6\nkind = "add_species"'), "expected step = N (a species joins"),
])
def test_malformed_add_species_events_are_refused_with_file_and_field(added_dir, change, message):
    path = added_dir / "bad.toml"
    path.write_text((added_dir / "added.toml").read_text().replace(*change))
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert str(path) in str(caught.value) and message in str(caught.value)


def test_a_recording_whose_added_model_is_missing_is_refused_with_the_reason(added_dir):
    summary = run_scenario(load_scenario(added_dir / "added.toml"), out=added_dir / "added.h5", progress=False)
    with h5py.File(summary.recording, "r+") as f:
        f[INDEX][0] = b'{"species": "late"}'
    with open_recording(summary.recording) as recording, pytest.raises(NcaWorldError, match="damaged"):
        restore_at(recording, 13)


def test_a_sweep_run_id_follows_the_model_an_add_species_event_names(added_dir):
    from nca_world.sim.sweep import Sweep

    sweep = added_dir / "sweep.toml"
    sweep.write_text('scenario = "added.toml"\nseeds = [1]\nsteps = 8\n\n[grid]\n"world.boundary" = ["zero"]\n')
    before = Sweep(sweep).runs()
    assert before[0]["models"]["late"][0] == str((added_dir / "late.h5").resolve())
    rule = late()
    save_rule(Rule(rule.spec, rule.w1, rule.b1, rule.w2, rule.b2 + 0.01), added_dir / "late.h5")
    after = Sweep(sweep).runs()
    assert after[0]["id"] != before[0]["id"]  # a changed model is a new run, never a stale result
