"""Memory a long-running worker gives back: glibc's allocator told to map large blocks on their own.

glibc serves a block of at least its mmap threshold (128 KiB at start) with a mapping of its own, which
``free`` unmaps; but each time such a block is freed it raises the threshold to that block's size (up to
32 MiB), and from then on blocks below it come from its arenas, whose freed space it keeps as long as
any block above it lives. A worker frees arrays of megabytes all the time (each learning step, snapshot
and reload): its arenas grew and stayed grown. Measured with ``bench_stream`` (defaults at 150 labels,
12,000 texts in one burst, one run each): resident memory, median of the first / second half of the run
421 / 611 MiB, last 611 MiB, arenas 380-600 MiB of which 110-210 MiB free; with the threshold fixed at
128 KiB 353 / 462 MiB, last 446 MiB, arenas ~70 MiB with ~10 MiB free, the same texts/s within noise
(118 against 125). Setting the threshold also stops its adjustment (glibc's ``mallopt`` manual).
"""

from __future__ import annotations

import ctypes
import os
import sys

#: glibc's mallopt parameter number of the mmap threshold (malloc.h)
M_MMAP_THRESHOLD = -3
#: glibc's initial threshold: blocks from 128 KiB on get a mapping of their own
MMAP_THRESHOLD_BYTES = 128 * 1024


def map_large_blocks(threshold: int = MMAP_THRESHOLD_BYTES) -> bool:
    """Fix glibc's mmap threshold at ``threshold`` bytes for this process, so freed large blocks go back
    to the system. Only on Linux with glibc, and not when ``MALLOC_MMAP_THRESHOLD_`` is set (the
    operator's choice wins); True when it was set."""
    if not sys.platform.startswith("linux") or "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, threshold))
