"""Fission (`[world] split = true`): a body cut in two becomes two child organisms, logged as a
`split` event that replays and forks exactly; the lineage table; malformed settings refused."""

import numpy as np
import pytest

from nca_world.agents.errors import ScenarioError
from nca_world.sim.cli import main
from nca_world.sim.events import apply
from nca_world.sim.fission import large_parts, parts, splitting, torus_labels
from nca_world.sim.lineage import lineage_table
from nca_world.sim.recording import open_recording
from nca_world.sim.runner import fork, restore_at
from nca_world.sim.scenario import load_scenario
from nca_world.sim.scenario_events import Split
from nca_world.sim.world import World
from tests.test_world import grower


def test_torus_labels_join_across_the_seams_and_follow_raster_order():
    cells = np.array([[1, 0, 0, 0, 1],
                      [0, 0, 0, 0, 0],
                      [0, 0, 1, 1, 0],
                      [0, 0, 0, 0, 0],
                      [1, 0, 0, 0, 0]], bool)
    plain, count = torus_labels(cells)
    assert count == 4
    np.testing.assert_array_equal(plain[[0, 2, 4]], [[1, 0, 0, 0, 2], [0, 0, 3, 3, 0], [4, 0, 0, 0, 0]])
    rows, count = torus_labels(cells, wrap_rows=True)  # (4, 0) touches (0, 0); (0, 4) stays alone
    assert count == 3
    np.testing.assert_array_equal(rows[[0, 2, 4]], [[1, 0, 0, 0, 2], [0, 0, 3, 3, 0], [1, 0, 0, 0, 0]])
    both, count = torus_labels(cells, wrap_rows=True, wrap_columns=True)  # (0, 4) touches (0, 0) too
    assert count == 2
    np.testing.assert_array_equal(both[[0, 2, 4]], [[1, 0, 0, 0, 1], [0, 0, 2, 2, 0], [1, 0, 0, 0, 0]])
    assert torus_labels(np.zeros((3, 3), bool), True, True)[1] == 0


def test_parts_of_a_torus_body_straddling_the_edge_are_one():
    owner = np.zeros((8, 10), np.int32)
    owner[3:5, 8:10] = 1
    owner[3:5, 0:2] = 1  # the same body on the other side of the seam
    owner[0, 4] = 1
    assert len(parts(owner, 1, wrap=False)) == 3
    found = parts(owner, 1, wrap=True)
    assert [int(p.sum()) for p in found] == [1, 8]  # the lone cell (0, 4) comes first in raster order
    assert found[1][3, 0] and found[1][4, 9]


def grown_and_cut(world_seed: int = 2) -> tuple[World, np.ndarray, np.ndarray]:
    """A grower's body cut in two by a band of 3 rows, with a 2-cell fragment left above it."""
    world = World(30, 30, species={"g": grower()}, seed=world_seed)
    world.spawn("a", "g", (15, 15))
    world.step(7)
    world.state[14:17] = 0.0
    world.owner[14:17] = 0
    top, bottom = (world.owner == 1) & (np.arange(30)[:, None] < 14), (world.owner == 1) & (np.arange(30)[:, None] > 16)
    world.state[2, 2:4, 3] = 1.0  # a fragment far from the body, too small to be a child
    world.owner[2, 2:4] = 1
    return world, top, bottom


def test_a_cut_organism_splits_into_two_children_with_its_parent_names_and_cells():
    world, top, bottom = grown_and_cut()
    state = world.state.copy()
    assert top.sum() >= 10 and bottom.sum() >= 10
    assert splitting(world, 10) == ["a"]
    effect = apply(world, Split(organism="a", min_cells=10))
    assert effect == {"parent": 1, "children": [
        {"index": 2, "name": "a.1", "cells": int(top.sum()), "seed_cell": list(map(int, np.argwhere(top)[0]))},
        {"index": 3, "name": "a.2", "cells": int(bottom.sum()), "seed_cell": list(map(int, np.argwhere(bottom)[0]))}]}
    np.testing.assert_array_equal(world.owner == 2, top)
    np.testing.assert_array_equal(world.owner == 3, bottom)
    np.testing.assert_array_equal(np.argwhere(world.owner == 1), [[2, 2], [2, 3]])  # the fragment stays with a
    np.testing.assert_array_equal(world.state, state)  # only owners change
    one, two = world.organism("a.1"), world.organism("a.2")
    assert (one.parent, two.parent, one.species, one.spawn_step) == (1, 1, "g", 7)
    assert world.organism("a").parent == 0
    assert splitting(world, 10) == []  # the children are whole; a holds 2 cells
    # a later split of a child numbers its own children; a split of a again takes the next free numbers
    world.owner[world.owner == 2] = 1
    world.owner[world.owner == 3] = 1
    assert [c.name for c in world.split("a", large_parts(world, "a", 10))] == ["a.3", "a.4"]


def test_a_single_body_with_small_fragments_does_not_split():
    world, top, bottom = grown_and_cut()
    smaller = int(min(top.sum(), bottom.sum()))
    assert large_parts(world, "a", smaller + 1) == []  # only one part that large: a body and fragments
    assert splitting(world, smaller + 1) == []
    assert len(large_parts(world, "a", smaller)) == 2


SPLIT_EVENTS = """
[[events]]
step = 10
kind = "cut_rect"
top_left = [15, 0]
size = [3, 64]
organism = "a"
"""


def split_scenario(scenario_dir, world_lines: str, name: str = "s.toml"):
    text = (scenario_dir / "base.toml").read_text().replace("seed = 3\n", "seed = 3\n" + world_lines)
    text = text.replace("[run]\nsteps = 40", SPLIT_EVENTS + "\n[run]\nsteps = 40")
    (scenario_dir / name).write_text(text)
    return scenario_dir / name


def test_split_off_leaves_numbering_and_owners_unchanged(scenario_dir):
    default = split_scenario(scenario_dir, "", "d.toml")
    off = split_scenario(scenario_dir, "split = false\n", "off.toml")
    assert main(["run", str(default), "--out", str(scenario_dir / "d.h5")]) == 0
    assert main(["run", str(off), "--out", str(scenario_dir / "off.h5")]) == 0
    with open_recording(scenario_dir / "d.h5") as d, open_recording(scenario_dir / "off.h5") as o:
        assert [x["name"] for x in o.organisms_at_end()] == ["a", "b"]
        assert not [r for r in o.events if r["event"]["kind"] == "split"]
        for i in range(len(d)):
            np.testing.assert_array_equal(d.owner(i), o.owner(i))
            np.testing.assert_array_equal(d.frame(i), o.frame(i))


def test_the_split_event_is_logged_replays_and_forks_bit_for_bit(scenario_dir):
    path = split_scenario(scenario_dir, "split = true\nmin_cells = 4\nsplit_every = 5\n")
    assert main(["run", str(path)]) == 0
    with open_recording(scenario_dir / "out.h5") as recording:
        splits = [r for r in recording.events if r["event"]["kind"] == "split"]
        assert len(splits) == 1
        record = splits[0]
        assert record["step"] == 10 and record["source"] == "world"
        assert record["event"] == {"kind": "split", "organism": "a", "min_cells": 4}
        assert [c["name"] for c in record["effect"]["children"]] == ["a.1", "a.2"]
        assert [c["index"] for c in record["effect"]["children"]] == [3, 4]
        table = recording.organisms_at_end()
        assert [(o["name"], o.get("parent", 0)) for o in table] == [("a", 0), ("b", 0), ("a.1", 1), ("a.2", 1)]
        frame = int(np.nonzero(recording.steps == 10)[0][0])
        owner = recording.owner(frame)
        assert [(owner == k).sum() for k in (3, 4)] == [c["cells"] for c in record["effect"]["children"]]
        assert (owner == 1).sum() == 0
        keyframe = recording.keyframe(1)  # step 10: after the split
        assert keyframe.step == 10 and [o.parent for o in keyframe.organisms] == [0, 0, 1, 1]
        for at in (9, 10, 13):  # before, at and after the split
            run = restore_at(recording, at)
            index = int(np.nonzero(recording.steps == at)[0][0])
            np.testing.assert_array_equal(run.world.owner, recording.owner(index))
            assert [o.name for o in run.world.organisms] == [o["name"] for o in table][:len(run.world.organisms)]
        frames = range(len(recording))
        nominal = [recording.owner(i) for i in frames], [recording.frame(i) for i in frames]
    for at in (7, 10):
        fork(scenario_dir / "out.h5", at, None, out=scenario_dir / f"f{at}.h5", progress=False)
        with open_recording(scenario_dir / f"f{at}.h5") as forked:
            assert len(forked) == len(nominal[0])
            for i in range(len(forked)):
                np.testing.assert_array_equal(forked.owner(i), nominal[0][i])
                np.testing.assert_array_equal(forked.frame(i), nominal[1][i])
            assert len([r for r in forked.events if r["event"]["kind"] == "split"]) == 1


def test_the_lineage_table_of_a_known_log():
    events = [
        {"step": 0, "source": "scenario", "event": {"kind": "spawn", "name": "g"}, "effect": {"index": 1}},
        {"step": 20, "source": "world", "event": {"kind": "split", "organism": "g", "min_cells": 10},
         "effect": {"parent": 1, "children": [{"index": 2, "name": "g.1", "cells": 40, "seed_cell": [1, 2]},
                                              {"index": 3, "name": "g.2", "cells": 31, "seed_cell": [9, 2]}]}},
        {"step": 25, "source": "scenario", "event": {"kind": "cut_circle"}, "effect": {"killed": 3}},
        {"step": 60, "source": "world", "event": {"kind": "split", "organism": "g.2", "min_cells": 10},
         "effect": {"parent": 3, "children": [{"index": 4, "name": "g.2.1", "cells": 12, "seed_cell": [8, 1]},
                                              {"index": 5, "name": "g.2.2", "cells": 15, "seed_cell": [9, 7]}]}},
    ]
    names = {1: "g", 2: "g.1", 3: "g.2", 4: "g.2.1", 5: "g.2.2"}
    table = lineage_table(events, names)
    assert table.to_dict("records") == [
        {"step": 20, "child": "g.1", "child_index": 2, "parent": "g", "parent_index": 1, "cells": 40},
        {"step": 20, "child": "g.2", "child_index": 3, "parent": "g", "parent_index": 1, "cells": 31},
        {"step": 60, "child": "g.2.1", "child_index": 4, "parent": "g.2", "parent_index": 3, "cells": 12},
        {"step": 60, "child": "g.2.2", "child_index": 5, "parent": "g.2", "parent_index": 3, "cells": 15}]
    assert lineage_table(events[:1], names).empty and list(lineage_table([], {}).columns) == list(table.columns)


def test_analysis_reports_the_lineage_and_draws_the_tree(scenario_dir):
    from nca_world.sim.analysis import analyze
    from nca_world.sim.figures import plot_lineage, tree_layout

    path = split_scenario(scenario_dir, "split = true\nmin_cells = 4\nsplit_every = 5\n")
    assert main(["run", str(path)]) == 0
    analysis = analyze(scenario_dir / "out.h5")
    assert analysis.lineage[["step", "child", "parent"]].values.tolist() == [[10, "a.1", "a"], [10, "a.2", "a"]]
    children = analysis.organisms[analysis.organisms.organism.isin([3, 4])]
    assert children[children.step < 10].alive.isna().all() and (children[children.step == 10].alive > 0).all()
    assert "split at step 10: a.1 (#3) from a (#1)" in analysis.summary()
    assert tree_layout({1: 0, 2: 0, 3: 1, 4: 1}) == {3: 0.0, 4: 1.0, 1: 0.5, 2: 2.0}
    assert plot_lineage(analysis, scenario_dir / "lineage.png").stat().st_size > 0
    assert main(["analyze", str(scenario_dir / "out.h5"), "--out", str(scenario_dir / "an")]) == 0
    assert (scenario_dir / "an" / "lineage.csv").exists() and (scenario_dir / "an" / "lineage.png").exists()


@pytest.mark.parametrize("line, field, expected", [
    ('split = "yes"', "world.split", "boolean"),
    ("split = 1", "world.split", "boolean"),
    ("min_cells = 0", "world.min_cells", "greater than or equal to 1"),
    ("min_cells = 2.5", "world.min_cells", "integer"),
    ('split_every = "10"', "world.split_every", "integer"),
    ("split_every = 0", "world.split_every", "greater than or equal to 1"),
    ("splitt = true", "world.splitt", "split"),
])
def test_malformed_split_settings_are_refused_with_file_and_field(scenario_dir, line, field, expected):
    path = split_scenario(scenario_dir, f"split = true\n{line}\n" if not line.startswith("split ") else line + "\n")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    message = str(caught.value)
    assert str(path) in message and field in message and expected in message


def test_split_settings_without_split_are_a_warning(scenario_dir):
    path = split_scenario(scenario_dir, "min_cells = 20\n")
    assert any("world.split" in w for w in load_scenario(path).warnings)
    assert not load_scenario(split_scenario(scenario_dir, "split = true\nmin_cells = 20\n", "t.toml")).warnings


def test_events_may_name_the_children_a_split_makes(scenario_dir):
    move = '\n[[events]]\nstep = 11\nkind = "move"\norganism = "{}"\nby = [-3, 0]\n'
    path = split_scenario(scenario_dir, "split = true\nmin_cells = 4\nsplit_every = 5\n")
    path.write_text(path.read_text() + move.format("a.1"))
    assert load_scenario(path).file.events[-1].organism == "a.1"
    assert main(["run", str(path)]) == 0
    with open_recording(scenario_dir / "out.h5") as recording:
        moved = next(r for r in recording.events if r["event"]["kind"] == "move" and r["step"] == 11)
        assert moved["event"]["organism"] == "a.1" and moved["effect"]["moved"] > 0
    for organism, split in (("a.1", "false"), ("a.x", "true"), ("c.1", "true"), ("a.0", "true")):
        bad = split_scenario(scenario_dir, f"split = {split}\n", "bad.toml")
        bad.write_text(bad.read_text() + move.format(organism))
        with pytest.raises(ScenarioError, match=r"bad.toml.*events.4.organism: expected one of \['a', 'b'\]"):
            load_scenario(bad)


@pytest.mark.parametrize("wrap", [False, True])
def test_the_one_pass_check_finds_the_organisms_that_the_labelling_splits(wrap):
    """`splitting` (a union-find over the whole map) against `large_parts` (scipy's labelling of
    each organism) on random owner maps with specks, bands and bodies across the torus seams."""
    rng = np.random.default_rng(3 + wrap)
    flagged = 0
    for trial in range(120):
        height, width = rng.integers(1, 24, size=2)
        world = World(int(height), int(width), species={"g": grower()}, seed=1,
                      boundary="wrap" if wrap else "zero")
        for k in range(int(rng.integers(1, 5))):
            world.spawn(f"o{k}", "g", (0, 0))
        owner = rng.integers(0, len(world.organisms) + 1, size=(height, width)).astype(np.int32)
        owner[rng.random((height, width)) < rng.uniform(0.2, 0.8)] = 0
        world.owner[:] = owner
        min_cells = int(rng.integers(1, 6))
        expected = [o.name for o in world.organisms if large_parts(world, o.name, min_cells)]
        assert splitting(world, min_cells) == expected, (trial, min_cells)
        flagged += len(expected)
    assert flagged > 20  # the maps do split, not only stay whole


@pytest.mark.parametrize("cells", [[(2, 0), (2, 5)], [(2, 0), (1, 5)], [(1, 0), (2, 5)], [(0, 2), (4, 3)]],
                         ids=["same-row", "diagonal-up", "diagonal-down", "top-bottom"])
def test_two_cells_touching_only_across_the_seam_are_one_part_on_a_torus(cells):
    worlds = {boundary: World(5, 6, species={"g": grower()}, boundary=boundary) for boundary in ("zero", "wrap")}
    for world in worlds.values():
        world.spawn("a", "g", (0, 0))
        world.owner[:] = 0
        for cell in cells:
            world.owner[cell] = 1
    assert splitting(worlds["zero"], 1) == ["a"]
    assert splitting(worlds["wrap"], 1) == []
