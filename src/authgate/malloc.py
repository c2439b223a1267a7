"""Giving back the memory glibc's malloc keeps for the password-hashing threads.

argon2id takes its memory (19 MiB at OWASP's parameters) with `malloc` on the thread that hashes. glibc serves
each thread from an arena of its own, and once it has unmapped one block that large it raises its thresholds:
later blocks come from the arena's heap, and a freed one stays at the top of that heap (under the trim
threshold, twice the block). Every later hash reuses those pages instead of faulting fresh ones in (17.5 against
22.1 ms a hash here), and the process keeps 19 MiB per hashing thread for good. `malloc_trim` does not reach
the top of a thread's arena; a block allocated and freed on that thread while the trim threshold is low does:
glibc then shrinks the heap (`release_thread_arena`, run on each hashing thread by `HashPool` once it has been
idle a while).

Only glibc on Linux; elsewhere `GLIBC` is None and nothing is released.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import Any

_M_TRIM_THRESHOLD = -1
_LOW_TRIM_THRESHOLD = 128 * 1024
_HIGH_TRIM_THRESHOLD = 64 * 1024 * 1024
"""Set back after a release: above any thread arena's heap (64 MiB at most), so a busy pool keeps its pages."""
_PROBE_SIZE = 1024 * 1024
"""A block from the top of the arena: above glibc's 64 KiB "consolidate and trim" size, below its mmap threshold."""


class Glibc:
    """glibc's allocator, reached through ctypes at the first release (importing ctypes at start costs 2 to 3 ms
    of the start-up)."""

    def __init__(self) -> None:
        self._libc: Any = None

    def _lib(self) -> Any:
        if self._libc is None:
            import ctypes

            libc = ctypes.CDLL("libc.so.6")
            libc.mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
            libc.malloc.argtypes = (ctypes.c_size_t,)
            libc.malloc.restype = ctypes.c_void_p
            libc.free.argtypes = (ctypes.c_void_p,)
            self._libc = libc
        return self._libc

    @contextlib.contextmanager
    def trimming(self) -> Iterator[None]:
        """The trim threshold lowered meanwhile (process-wide). Setting it stops glibc's own adjustments for
        good: the mmap threshold stays where the hashes raised it, so hashes keep reusing their arena's pages."""
        libc = self._lib()
        libc.mallopt(_M_TRIM_THRESHOLD, _LOW_TRIM_THRESHOLD)
        try:
            yield
        finally:
            libc.mallopt(_M_TRIM_THRESHOLD, _HIGH_TRIM_THRESHOLD)

    def release_thread_arena(self) -> None:
        """On the calling thread, inside `trimming`: glibc gives back the free top of this thread's heap."""
        libc = self._lib()
        libc.free(libc.malloc(_PROBE_SIZE))


def _glibc() -> Glibc | None:
    if sys.platform != "linux":
        return None
    try:
        version = os.confstr("CS_GNU_LIBC_VERSION")
    except (ValueError, OSError):  # a C library that does not know the name (musl)
        return None
    return Glibc() if version and version.startswith("glibc") else None


GLIBC = _glibc()
