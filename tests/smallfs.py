"""A small filesystem of the test's own (a tmpfs of a few MiB), to fill up for real: writes past its size fail
with ENOSPC from the kernel, as on a full disk, with no mock anywhere.

Mounting needs root (CAP_SYS_ADMIN), as CI and the developer machines run the suite; elsewhere the test is
skipped, and in CI (CI=true) that is a failure.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def tmpfs(size_mib: int) -> Iterator[Path]:
    mountpoint = Path(tempfile.mkdtemp(prefix="authgate-smallfs-"))
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mib}m,mode=0755", "tmpfs", str(mountpoint)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        mountpoint.rmdir()
        reason = f"cannot mount a tmpfs here ({mounted.stderr.strip()}); the disk-full test needs root"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "--lazy", str(mountpoint)], check=False)
        shutil.rmtree(mountpoint, ignore_errors=True)


def free_bytes(path: Path) -> int:
    stat = os.statvfs(path)
    return stat.f_bavail * stat.f_frsize


class Ballast:
    """A file that takes all the space of a filesystem but `leave` bytes, and gives it back when removed."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "ballast"

    def fill(self, leave: int = 0) -> None:
        chunk = b"\0" * 65536
        with self.path.open("ab", buffering=0) as f:  # unbuffered: nothing left over to fail again at close
            try:
                while (room := free_bytes(self.path.parent) - leave) > 0:
                    f.write(chunk[: min(len(chunk), room)])
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
