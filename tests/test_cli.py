import subprocess
import sys

from nca_world.agents.modelfile import save_rule
from nca_world.agents.spec import Rule, RuleSpec
from nca_world.sim.cli import main


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
