"""Commands that never train do not pay for importing torch (seconds on a busy machine)."""

import subprocess
import sys


def test_the_viewer_snapshot_and_runner_do_not_import_torch():
    code = ("import sys, nca_world.sim.viewer, nca_world.sim.snapshot, nca_world.sim.runner, nca_world.sim.cli; "
            "print('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
