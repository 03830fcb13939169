import subprocess
import sys
from fractions import Fraction

import pytest

from nca_world.agents.modelfile import save_rule
from nca_world.agents.spec import Rule, RuleSpec
from nca_world.sim.cli import build_parser, main


def test_models_describes_a_good_file(tmp_path, capsys):
    path = save_rule(Rule.random(RuleSpec(channels=17, hidden=8, identity_channels=1), seed=0), tmp_path / "m.h5")
    assert main(["models", str(path)]) == 0
    assert "C=17 hidden=8 identity=1 (learned)" in capsys.readouterr().out


def test_a_bad_model_file_gives_one_line_and_exit_code_2(tmp_path):
    bad = tmp_path / "bad.h5"
    bad.write_text("not hdf5")
    done = subprocess.run([sys.executable, "-m", "nca_world.sim.cli", "models", str(bad)],
                          capture_output=True, text=True)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith(f"nca-world: error: {bad}: not a readable nca-world model file")


def test_view_zoom_takes_whole_numbers_and_unit_fractions(capsys):
    parser = build_parser()
    assert parser.parse_args(["view", "r.h5", "--zoom", "1/4"]).zoom == Fraction(1, 4)
    assert parser.parse_args(["view", "r.h5", "--zoom", "3"]).zoom == 3
    for bad in ("3/4", "0", "65", "1/17", "1/0", "half"):
        with pytest.raises(SystemExit):
            parser.parse_args(["view", "r.h5", "--zoom", bad])
        assert "expected a whole number 1..64" in capsys.readouterr().err
