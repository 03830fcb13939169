"""Claiming a recording's path before writing it: one writer a file (`WriteLock`) and nothing
but a recording ever replaced, as the `overwrite` rule allows (`check_output`)."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from nca_world.agents.errors import RecordingError
from nca_world.sim.recording import FORMAT, open_hdf5

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
OVERWRITE = ("never", "finished", "any")  # which existing recordings a recorder may replace


class WriteLock:
    """The lock of one recording: ``<path>.lock``, held with ``flock`` by the one process writing
    `path` and holding its process id. HDF5 does not stop a second writer once SWMR has started,
    so a second recorder of the same path is refused here. The lock sits beside the file a link
    points to, so two names of one file share it; a killed run may leave its lock file behind, but
    the kernel has dropped its lock, so the next writer simply takes it."""

    def __init__(self, path: Path) -> None:
        real = Path(os.path.realpath(path))
        self.path = real.with_name(real.name + ".lock")
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as error:
                raise RecordingError(f"{path}: lock: expected to create {self.path.name}, "
                                     f"got {error.strerror}") from error
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(fd, 64).decode(errors="replace").strip() or "?"
                os.close(fd)
                raise RecordingError(f"{path}: writer: expected no other run writing this recording, got "
                                     f"process {holder} (lock {self.path}); wait for it to end or choose another "
                                     "--out") from None
            try:
                if os.stat(self.path).st_ino == os.fstat(fd).st_ino:
                    break  # the lock file we hold is still the one at `self.path`
            except FileNotFoundError:
                pass
            os.close(fd)  # its writer removed it between our open and our lock: take the new one
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd: int | None = fd

    def release(self) -> None:
        """Remove the lock file and let go; safe to call twice."""
        if self._fd is None:
            return
        self.path.unlink(missing_ok=True)  # while still held, so no one locks a file being removed
        os.close(self._fd)
        self._fd = None


def check_output(path: Path, *, overwrite: str = "any", source: Path | None = None) -> None:
    """Refuse a recording path that would destroy anything but a recording: a folder, a file
    that is not HDF5, an HDF5 file that is not an nca-world recording (a model file), the
    recording a fork reads (`source`). `overwrite` says which recordings may be replaced:
    ``"never"``, ``"finished"`` (those of runs that ended normally) or ``"any"``."""
    if overwrite not in OVERWRITE:
        raise RecordingError(f"{path}: overwrite: expected one of {OVERWRITE}, got {overwrite!r}")
    if path.is_dir():
        raise RecordingError(f"{path}: record.path: expected a file name, got a folder")
    if not path.exists():
        return
    if source is not None and path.samefile(source):
        raise RecordingError(f"{path}: record.path: expected a file other than the recording forked from, got "
                             "the same file (give --out, or leave it out to write beside it)")
    form, complete = _existing(path)
    if form != FORMAT:
        raise RecordingError(f"{path}: record.path: expected a new file or an nca-world recording, got {form}; "
                             "it is never overwritten")
    if overwrite == "never":
        raise RecordingError(f"{path}: record.path: expected a new file, got an existing recording "
                             "(give --overwrite to replace it)")
    if overwrite == "finished" and not complete:
        raise RecordingError(f"{path}: record.path: expected a new file or the recording of a finished run, got "
                             "one whose run did not finish; it is not overwritten (resume it with run --from, or "
                             "remove it)")


def _existing(path: Path) -> tuple[str, bool]:
    """`FORMAT` and whether its run finished for an nca-world recording, else what the file is,
    in words."""
    try:
        with open(path, "rb") as file:
            signature = file.read(len(HDF5_SIGNATURE))
    except OSError as error:
        return f"a file that cannot be read ({error.strerror})", False
    if signature != HDF5_SIGNATURE:
        return "an existing file that is not HDF5", False
    try:
        with open_hdf5(path) as file:
            form, complete = file.attrs.get("format"), bool(file.attrs.get("complete", False))
    except OSError:
        return "an HDF5 file that cannot be read", False
    return (FORMAT, complete) if form == FORMAT else (f"an HDF5 file of format {form!r}", False)
