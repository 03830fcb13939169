"""How many threads the numba kernels use while a run steps: a fixed number, or chosen on the fly.

A step runs several parallel passes, each ending at a barrier. On a busy machine (other runs,
trainings, a browser) a thread the OS has set aside holds every barrier for a whole time slice,
and two threads can step 10x slower than one. `ThreadTuner` therefore measures: it steps a short
window with each candidate count (all threads, then halving down to one), keeps the fastest for a
few seconds, and measures again, so a run follows the machine's load as it changes. Results do not
depend on the thread count (see `nca_world.sim.core`), so switching never changes a number.
"""

from __future__ import annotations

import time

import numba

from nca_world.agents.errors import WorldError

PROBE_SECONDS = 0.1  # each candidate steps at least this long (and at least PROBE_STEPS steps)
PROBE_STEPS = 3
HOLD_SECONDS = 3.0  # the fastest count is kept this long before the next measurement


def candidates(most: int) -> list[int]:
    """Thread counts worth trying: `most`, then halving down to 1."""
    counts = [most]
    while counts[-1] > 1:
        counts.append(counts[-1] // 2)
    return counts


def check_threads(threads: int | None) -> None:
    """Refuse a thread count outside ``1 .. NUMBA_NUM_THREADS`` (None: chosen by measurement)."""
    most = numba.config.NUMBA_NUM_THREADS
    if threads is not None and not 1 <= threads <= most:
        raise WorldError(f"threads: expected 1..{most} (NUMBA_NUM_THREADS), got {threads}")


class ThreadTuner:
    """Sets numba's thread count for a loop of steps: call `tick()` after every step.

    `threads` fixes the count (1 .. NUMBA_NUM_THREADS); None chooses it by measurement.
    """

    def __init__(self, threads: int | None = None, clock=time.perf_counter) -> None:
        check_threads(threads)
        self.fixed = threads
        self.clock = clock
        self.counts = candidates(numba.config.NUMBA_NUM_THREADS) if threads is None else [threads]
        self.seconds_per_step: dict[int, float] = {}
        self._trial = 0  # index into counts while measuring; len(counts) while holding
        self._since, self._steps = clock(), 0
        self._set(self.counts[0])

    @property
    def threads(self) -> int:
        """The thread count in use."""
        return numba.get_num_threads()

    def _set(self, count: int) -> None:
        self._count = count
        numba.set_num_threads(count)

    def use(self) -> None:
        """Set numba's count to this tuner's choice again (other code may have changed it since)."""
        if numba.get_num_threads() != self._count:
            numba.set_num_threads(self._count)

    def tick(self) -> None:
        """One step was taken: measure, and switch counts when a window ends."""
        if self.fixed is not None:
            return
        self._steps += 1
        elapsed = self.clock() - self._since
        if self._trial < len(self.counts):
            if elapsed < PROBE_SECONDS or self._steps < PROBE_STEPS:
                return
            self.seconds_per_step[self.counts[self._trial]] = elapsed / self._steps
            self._trial += 1
            if self._trial == len(self.counts):
                self._set(min(self.seconds_per_step, key=self.seconds_per_step.__getitem__))
            else:
                self._set(self.counts[self._trial])
        elif elapsed >= HOLD_SECONDS:
            self._trial = 0
            self._set(self.counts[0])
        else:
            return
        self._since, self._steps = self.clock(), 0
