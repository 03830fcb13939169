"""Set-up's warm-up splits the compile over two processes: the recording kernels in a child
(`warm_recorder`), which must compile none of the step's (else the two would compile the same
kernels side by side and the split would gain nothing)."""

import os
import subprocess
import sys


def test_warming_the_recorder_compiles_the_recording_kernels_and_no_step_kernel(tmp_path):
    cache = tmp_path / "numba-cache"
    subprocess.run([sys.executable, "-c", "from nca_world.sim.warmup import warm_recorder; warm_recorder()"],
                   check=True, env={**os.environ, "NUMBA_CACHE_DIR": str(cache)}, timeout=600)
    cached = {path.name.split("-")[0] for path in cache.rglob("*.nbi")}
    assert any(name.startswith("frames.") for name in cached), cached  # the frame pass
    assert any(name.startswith("chunks.") for name in cached), cached  # LZ4 blocks
    assert not any(name.startswith("core.") for name in cached), cached  # nothing of the step
