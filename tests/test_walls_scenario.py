"""Walls, interactions and contest in scenarios: validation with file, line and field; wall events
applied, logged and replayed; the recording's wall map; forks exact."""

import numpy as np
import pytest
from PIL import Image

from nca_world.agents.errors import ScenarioError
from nca_world.sim.figures import frame_image
from nca_world.sim.recording import open_recording
from nca_world.sim.render import WALL_COLOUR
from nca_world.sim.runner import build_world, fork, restore_at, run_scenario
from nca_world.sim.scenario import load_scenario
from tests.test_runner import datasets

WALLED = """
[world]
height = 32
width = 40
seed = 5
senses = "own_species"
contest = "buffer"

[[species]]
name = "g"
model = "grow.h5"

[[organisms]]
name = "a"
species = "g"
position = [8, 8]

[[organisms]]
name = "b"
species = "g"
position = [28, 4]

[[walls]]
shape = "rect"
top_left = [0, 20]
size = [14, 2]

[[walls]]
shape = "circle"
center = [26, 12]
radius = 2.5

[[walls]]
shape = "line"
start = [20, 24]
end = [20, 39]
width = 1

[[walls]]
shape = "png"
path = "mask.png"

[[interactions]]
species = ["g", "g"]
senses = "self"

[[events]]
step = 6
kind = "add_walls"
shape = "rect"
top_left = [6, 0]
size = [1, 40]

[[events]]
step = 9
kind = "remove_walls"
shape = "rect"
top_left = [0, 20]
size = [3, 2]

[run]
steps = 14

[record]
path = "walled.h5"
keyframe_every = 5
flush_every = 2
"""


def png(path, size=(8, 10)):
    """A mask image: black (wall) in its bottom-right quarter, white elsewhere."""
    pixels = np.full((*size, 3), 255, np.uint8)
    pixels[size[0] // 2 :, size[1] // 2 :] = 0
    Image.fromarray(pixels).save(path)


@pytest.fixture
def walled(scenario_dir):
    png(scenario_dir / "mask.png")
    (scenario_dir / "walled.toml").write_text(WALLED)
    return scenario_dir


def expected_initial_walls():
    walls = np.zeros((32, 40), bool)
    walls[0:14, 20:22] = True  # rect
    yy, xx = np.mgrid[:32, :40]
    walls |= (yy - 26) ** 2 + (xx - 12) ** 2 <= 2.5**2  # circle
    walls[20, 24:40] = True  # a horizontal line of width 1
    walls[16:, 20:] = True  # the PNG's dark quarter, scaled 4x
    return walls


def test_the_scenario_walls_are_the_union_of_its_shapes(walled):
    scenario = load_scenario(walled / "walled.toml")
    np.testing.assert_array_equal(scenario.walls, expected_initial_walls())
    world = build_world(scenario)
    np.testing.assert_array_equal(world.walls, expected_initial_walls())
    assert world.contest == "buffer" and world.senses == "own_species"
    world.spawn("x", "g", (2, 2))
    world.spawn("y", "g", (4, 4))
    assert world.sensed()[1, 2] == 0  # the g-g pair is "self"


def test_a_walled_run_logs_its_wall_events_and_its_recording_shows_the_walls(walled):
    scenario = load_scenario(walled / "walled.toml")
    run_scenario(scenario, progress=False)
    with open_recording(walled / "walled.h5") as rec:
        kinds = [(r["step"], r["event"]["kind"], r["effect"].get("cells")) for r in rec.events[2:]]
        assert kinds == [(6, "add_walls", 40 - 2), (9, "remove_walls", 6)]  # 2 of row 6 were walls already
        walls0 = expected_initial_walls()
        np.testing.assert_array_equal(rec.walls(0), walls0)
        at6 = walls0.copy()
        at6[6] = True
        np.testing.assert_array_equal(rec.walls(5), walls0)
        np.testing.assert_array_equal(rec.walls(6), at6)
        at9 = at6.copy()
        at9[0:3, 20:22] = False
        np.testing.assert_array_equal(rec.walls(14), at9)
        for index in range(len(rec)):
            assert not rec.owner(index)[rec.walls(index)].any()  # never owned
            assert not rec.frame(index)[rec.walls(index)].any()  # never alive
        assert (rec.owner(5)[6] == 1).sum() > 5 and not rec.owner(6)[6].any()  # the wall cut through a
        assert rec.events[2]["effect"]["cells"] == 38 and (rec.owner(14)[5] == 1).sum() > 5
        np.testing.assert_array_equal(rec.keyframe(2).walls, at9)  # step 10: after both events
        picture = frame_image(rec, 14)  # what videos and montages draw
        assert (picture[at9] == WALL_COLOUR).all() and not (picture[~at9] == WALL_COLOUR).all(axis=-1).any()


@pytest.mark.parametrize("at", [7, 11])
def test_a_fork_of_a_walled_run_reproduces_it(walled, at):
    scenario = load_scenario(walled / "walled.toml")
    run_scenario(scenario, progress=False)
    (walled / "mask.png").unlink()  # a fork needs only the recording
    fork(walled / "walled.h5", at, out=walled / "fork.h5", progress=False)
    original, forked = datasets(walled / "walled.h5"), datasets(walled / "fork.h5")
    for name in ("frames", "owner", "step", "metrics", "events", "walls"):
        np.testing.assert_array_equal(original[name], forked[name], err_msg=name)
    with open_recording(walled / "walled.h5") as rec:
        run = restore_at(rec, at)
        np.testing.assert_array_equal(run.world.walls, rec.walls(at))


BAD = [
    ('[[interactions]]\nspecies = ["g", "h"]\nsenses = "self"\n', "interactions.0.species", "'h'"),
    ('[[interactions]]\nspecies = ["g", "g"]\nsenses = "deaf"\n', "interactions.0.senses", "deaf"),
    ('[[walls]]\nshape = "rect"\ntop_left = [1, 1]\n', "walls.0", "size"),
    ('[[walls]]\nshape = "circle"\ncenter = [1, 1]\nradius = 2\nsize = [2, 2]\n', "walls.0", "size"),
    ('[[walls]]\nshape = "png"\npath = "notes.txt"\n', "walls.0.path", "PNG"),
    ('[[walls]]\nshape = "rect"\ntop_left = [8, 8]\nsize = [1, 1]\n', "organisms.a.position", "wall"),
    ('[[events]]\nstep = 1\nkind = "add_walls"\nshape = "png"\npath = "mask.png"\n', "events.0.add_walls.shape", "png"),
    ('[[events]]\nstep = 1\nkind = "add_walls"\nshape = "line"\nstart = [1, 1]\nend = [2, 2]\norganism = "a"\n',
     "events.0.add_walls", "organism"),
]


@pytest.mark.parametrize(("extra", "field", "said"), BAD)
def test_malformed_walls_and_interactions_are_refused_with_file_line_and_field(walled, extra, field, said):
    (walled / "notes.txt").write_text("not an image")
    head = WALLED.split("[[walls]]")[0].replace('contest = "buffer"', "")
    text = head + extra + "[run]\nsteps = 3\n"
    (walled / "bad.toml").write_text(text)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(walled / "bad.toml")
    message = str(caught.value)
    assert f"{walled / 'bad.toml'}" in message and field in message and said in message
