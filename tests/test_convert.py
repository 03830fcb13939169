"""Takeover (`convert`): cells of one organism become a new organism of another species, keep
their state and follow the new rule; in scenario files, recordings, replays and analysis."""

import numpy as np
import pytest

from nca_world.agents.errors import ScenarioError, WorldError
from nca_world.agents.modelfile import save_rule
from nca_world.agents.spec import Rule, RuleSpec
from nca_world.sim.cli import main
from nca_world.sim.recording import open_recording
from nca_world.sim.runner import fork
from nca_world.sim.scenario import load_scenario
from nca_world.sim.scenario_events import Convert
from nca_world.sim.world import World
from tests.test_world import grower


def still() -> Rule:
    """A rule that changes nothing: its cells keep their state while they stay alive."""
    spec = RuleSpec(hidden=16)
    return Rule(spec, np.zeros((spec.features, 16), np.float32), np.zeros(16, np.float32),
                np.zeros((16, spec.channels), np.float32), np.zeros(spec.channels, np.float32))


def test_converted_cells_keep_their_state_and_follow_the_new_rule():
    world = World(30, 30, species={"grow": grower(), "still": still()}, seed=2)
    world.spawn("a", "grow", (15, 15))
    world.step(6)
    before = world.state.copy()
    disc = (np.arange(30)[:, None] - 15) ** 2 + (np.arange(30)[None, :] - 12) ** 2 <= 9
    mine = world.owner == 1
    organism, taken = world.convert("a", "intruder", "still", disc)
    assert organism.index == 2 and organism.species == "still" and organism.spawn_step == 6
    assert taken == int((disc & mine).sum()) > 0
    np.testing.assert_array_equal(world.owner == 2, disc & mine)  # exactly a's cells in the disc
    np.testing.assert_array_equal(world.state, before)  # states kept
    world.step(4)
    converted = world.owner == 2
    # the still rule's cells keep alpha exactly (while alive); the grower's own cells grew
    np.testing.assert_array_equal(world.state[converted, 3], before[converted, 3])
    assert (world.state[world.owner == 1, 3] >= before[world.owner == 1, 3]).all()
    with pytest.raises(WorldError, match="already taken"):
        world.convert("a", "intruder", "still", disc)


def test_a_convert_event_runs_records_and_forks_exactly(scenario_dir):
    save_rule(still(), scenario_dir / "still.h5")
    text = (scenario_dir / "base.toml").read_text().replace(
        '[[species]]\nname = "g"\nmodel = "grow.h5"',
        '[[species]]\nname = "g"\nmodel = "grow.h5"\n\n[[species]]\nname = "s"\nmodel = "still.h5"')
    text += ('\n[[events]]\nstep = 8\nkind = "convert"\norganism = "a"\nname = "taken"\nspecies = "s"\n'
             'fraction = 0.5\n\n[[events]]\nstep = 15\nkind = "cut_circle"\norganism = "taken"\n'
             'center = [16, 16]\nradius = 3\n')
    (scenario_dir / "c.toml").write_text(text)
    assert main(["run", str(scenario_dir / "c.toml")]) == 0
    with open_recording(scenario_dir / "out.h5") as recording:
        assert [o["name"] for o in recording.organisms_at_end()] == ["a", "b", "taken"]
        record = next(r for r in recording.events if r["event"]["kind"] == "convert")
        assert record["step"] == 8 and record["effect"]["index"] == 3 and record["effect"]["converted"] > 0
        owner_after = recording.owner(int(np.nonzero(recording.steps == 8)[0][0]))
        assert (owner_after == 3).sum() == record["effect"]["converted"]
        final_state = recording.keyframe(len(recording.keyframe_steps) - 1)
        from nca_world.sim.analysis import analyze

        analysis = analyze(recording)
        table = analysis.organisms
        taken = table[table.organism == 3]
        shares = analysis.takeovers
        at_convert = shares[shares.step == 8].iloc[0]
        assert (at_convert.source, at_convert.intruder) == ("a", "taken")
        a_cells = int(table[(table.organism == 1) & (table.step == 8)].alive.iloc[0])
        assert at_convert.intruder_cells == record["effect"]["converted"] and at_convert.source_cells == a_cells
        converted = record["effect"]["converted"]
        assert at_convert.intruder_share == pytest.approx(converted / (a_cells + converted))
        assert shares.step.min() == 8
        assert taken[taken.step < 8].alive.isna().all()  # not there before the takeover
        assert int(taken[taken.step == 8].alive.iloc[0]) == record["effect"]["converted"]
    summary = fork(scenario_dir / "out.h5", 10, None, out=scenario_dir / "forked.h5")
    with open_recording(scenario_dir / "forked.h5") as forked, open_recording(scenario_dir / "out.h5") as original:
        last = len(original.steps) - 1
        np.testing.assert_array_equal(forked.owner(len(forked.steps) - 1), original.owner(last))
        np.testing.assert_array_equal(forked.frame(len(forked.steps) - 1), original.frame(last))
    assert summary.steps > 0 and final_state.owner.max() == 3


@pytest.mark.parametrize(("fields", "message"), [
    ('name = "t"\nspecies = "g"\nfraction = 0.5', "convert needs the organism"),
    ('organism = "a"\nname = "t"\nspecies = "g"', "expected exactly one region"),
    ('organism = "a"\nname = "t"\nspecies = "g"\nfraction = 0.5\ncenter = [3, 3]\nradius = 2', "exactly one region"),
    ('organism = "a"\nname = "t"\nspecies = "g"\ncenter = [3, 3]', "expected both center and radius"),
    ('organism = "a"\nname = "b"\nspecies = "g"\nfraction = 0.5', "the name 'b' is used twice"),
    ('organism = "a"\nname = "t"\nspecies = "nope"\nfraction = 0.5', "events.t.species: expected one of"),
    ('organism = "a"\nname = "t"\nspecies = "g"\nfraction = 1.5', "fraction: Input should be less than or equal"),
])
def test_malformed_convert_events_are_refused(scenario_dir, fields, message):
    text = (scenario_dir / "base.toml").read_text() + f'\n[[events]]\nstep = 9\nkind = "convert"\n{fields}\n'
    (scenario_dir / "bad.toml").write_text(text)
    with pytest.raises(ScenarioError, match=message):
        load_scenario(scenario_dir / "bad.toml")


def test_a_convert_that_takes_no_cell_still_names_the_new_organism():
    world = World(20, 20, species={"grow": grower(), "still": still()}, seed=1)
    world.spawn("a", "grow", (10, 10))
    organism, taken = world.convert("a", "t", "still", np.zeros((20, 20), bool))
    assert taken == 0 and organism.seed_cell == (10, 10) and world.organism("t").index == 2


def test_convert_built_in_python_applies_now():
    world = World(20, 20, species={"grow": grower(), "still": still()}, seed=1)
    world.spawn("a", "grow", (10, 10))
    world.step(4)
    effect = world.apply(Convert(organism="a", name="t", species="still", top_left=(0, 0), size=(10, 20)))
    assert effect["converted"] == int((world.owner == 2).sum()) > 0 and (world.owner[10:] != 2).all()
