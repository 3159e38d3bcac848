"""glibc's mmap threshold fixed: freed large blocks go back to the system (a real process, real glibc)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc", reason="glibc only"
)

# a freed 16 MiB block raises glibc's own threshold; then 300 blocks of 1 MiB, all freed but the last:
# resident memory before and after, in MiB
PROBE = """
import sys
import numpy as np
from redline.streams.process_memory import map_large_blocks

def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) // 1024

fixed = map_large_blocks() if sys.argv[1] == "fixed" else False
big = np.ones(16 * 2**17)
del big
base = rss()
blocks = [np.ones(2**17) for _ in range(300)]
keep = blocks[-1]
del blocks
print(fixed, rss() - base)
"""


def _kept_mib(mode: str, **env: str) -> tuple[bool, int]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True,
        env={**os.environ, **env},
    )  # fmt: skip
    fixed, kept = out.stdout.split()
    return fixed == "True", int(kept)


def test_with_the_threshold_fixed_freed_blocks_leave_the_process() -> None:
    assert _kept_mib("glibc's own") == (False, pytest.approx(300, abs=40))  # kept: what the worker saw
    fixed, kept = _kept_mib("fixed")
    assert fixed and kept < 40


def test_the_operators_malloc_setting_wins() -> None:
    assert _kept_mib("fixed", MALLOC_MMAP_THRESHOLD_="33554432")[0] is False
