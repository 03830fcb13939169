"""Takeover analysis: each organism's share of the original body after a `convert`, on owner maps
with hand-computed answers and on a recorded run; the bundled takeover and fission scenarios."""

from pathlib import Path

import numpy as np
import pytest

from nca_world.sim.cli import main
from nca_world.sim.lineage import BodyShares
from nca_world.sim.recording import open_recording
from nca_world.sim.scenario import load_scenario

SCENARIOS = Path(__file__).parent.parent / "scenarios"


def record(step, kind, effect, **event):
    return {"step": step, "source": "scenario", "event": {"kind": kind, **event}, "effect": effect}


EVENTS = [record(0, "spawn", {"index": 1}, name="a"), record(0, "spawn", {"index": 2}, name="b"),
          record(10, "convert", {"index": 3, "converted": 2}, organism="a", name="x", species="s")]
NAMES = {1: "a", 2: "b", 3: "x"}


def owner_map(rows: list[str]) -> np.ndarray:
    return np.array([[int(c) for c in row] for row in rows], np.int64)


def test_body_shares_of_hand_made_owner_maps():
    shares = BodyShares(EVENTS, NAMES)
    shares.frame(5, owner_map(["1100", "0000", "0022"]))  # before the takeover: no rows
    shares.frame(10, owner_map(["1131", "1310", "1022"]))  # the body: a's 6 cells and x's 2
    shares.frame(20, owner_map(["3301", "1312", "2022"]))  # of those 8: x 3, a 3, b 1, nobody 1
    table = shares.table()
    assert set(table.convert_step) == {10} and set(table.source) == {"a"}
    assert set(table.body_step) == {10} and set(table.body_cells) == {8}
    at = {(int(r.step), r.name): (int(r.cells), r.share) for r in table.itertuples()}
    assert at == {(10, "a"): (6, 0.75), (10, "x"): (2, 0.25),
                  (20, "nobody"): (1, 0.125), (20, "a"): (3, 0.375), (20, "b"): (1, 0.125), (20, "x"): (3, 0.375)}
    assert table.groupby("step").share.sum().tolist() == [1.0, 1.0]
    assert table[table.step == 20].organism.tolist() == [0, 1, 2, 3]


def test_body_shares_take_the_first_frame_after_an_unrecorded_step_and_every_convert_of_the_step():
    events = [*EVENTS, record(10, "convert", {"index": 4, "converted": 1}, organism="a", name="y", species="s")]
    shares = BodyShares(events, {**NAMES, 4: "y"})
    shares.frame(12, owner_map(["1134", "2200"]))  # frames every 4 steps: the body is taken at step 12
    shares.frame(16, owner_map(["0034", "2222"]))
    table = shares.table()
    assert set(table.body_step) == {12} and set(table.body_cells) == {4}
    last = {r.name: r.share for r in table[table.step == 16].itertuples()}
    assert last == {"nobody": 0.5, "x": 0.25, "y": 0.25}
    assert BodyShares(EVENTS[:2], NAMES).table().empty


def test_body_shares_of_a_recorded_takeover(scenario_dir):
    from nca_world.sim.analysis import analyze

    text = (scenario_dir / "base.toml").read_text().replace(
        '[[species]]\nname = "g"\nmodel = "grow.h5"',
        '[[species]]\nname = "g"\nmodel = "grow.h5"\n\n[[species]]\nname = "h"\nmodel = "grow.h5"')
    text += '\n[[events]]\nstep = 8\nkind = "convert"\norganism = "a"\nname = "taken"\nspecies = "h"\nfraction = 0.3\n'
    (scenario_dir / "t.toml").write_text(text)
    assert main(["run", str(scenario_dir / "t.toml")]) == 0
    with open_recording(scenario_dir / "out.h5") as recording:
        analysis = analyze(recording)
        converted = next(r for r in recording.events if r["event"]["kind"] == "convert")["effect"]["converted"]
        owner = recording.owner(int(np.nonzero(recording.steps == 8)[0][0]))
        body = np.isin(owner, [1, 3])
        shares = analysis.body_shares
        first = shares[shares.step == 8].set_index("name")
        assert first.cells.to_dict() == {"a": int((owner == 1).sum()), "taken": converted}
        assert set(shares.body_cells) == {int(body.sum())}
        last_step = int(recording.steps[-1])
        final = recording.owner(len(recording) - 1)[body]
        expected = {("nobody" if k == 0 else analysis.names[k]): int((final == k).sum()) for k in np.unique(final)}
        assert shares[shares.step == last_step].set_index("name").cells.to_dict() == expected
        assert "takeover at step 8 of a" in analysis.summary()
    assert main(["analyze", str(scenario_dir / "out.h5"), "--out", str(scenario_dir / "an")]) == 0
    assert (scenario_dir / "an" / "body_shares.csv").exists() and (scenario_dir / "an" / "body_shares.png").exists()


@pytest.mark.parametrize("name", ["takeover", "fission"])
def test_the_bundled_scenarios_say_what_they_show(name):
    scenario = load_scenario(SCENARIOS / f"{name}.toml")
    assert not scenario.warnings
    header = (SCENARIOS / f"{name}.toml").read_text().splitlines()[0]
    assert header.startswith(f"# {name.capitalize()}: ")
    if name == "fission":
        assert scenario.file.world.split and scenario.file.world.min_cells == 10
    else:
        convert = scenario.file.events[0]
        assert (convert.kind, convert.fraction, convert.organism) == ("convert", 0.1, "host")
        assert scenario.added == {} and set(scenario.rules) == {"gecko", "intruder"}
