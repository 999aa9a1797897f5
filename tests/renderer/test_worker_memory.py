"""The render worker keeps its freed memory: glibc's tunables reach the spawned worker only, and glibc honours them
(a freed 64 MB block is reused without page faults)."""
from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from renderer.worker_memory import KEEP_FREED_MEMORY, OPT_OUT_VARIABLE, worker_environment, worker_tunables

# Allocates, frees and allocates again a 64 MB block (above glibc's largest mmap threshold) and prints the page
# faults of the second allocation.
# glibc's own malloc and free (numpy would ask for huge pages and torch has its own allocator).
FAULTS_OF_A_REUSED_BLOCK = (
    "import ctypes, resource\n"
    "libc = ctypes.CDLL(None); libc.malloc.restype = ctypes.c_void_p; libc.free.argtypes = [ctypes.c_void_p]\n"
    "def faults(): return resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
    "def touch(): block = libc.malloc(1 << 26); ctypes.memset(block, 1, 1 << 26); return block\n"
    "libc.free(touch())\n"
    "before = faults(); block = touch(); print(faults() - before)\n"
)
on_glibc = pytest.mark.skipif(platform.libc_ver()[0] != "glibc" or sys.platform != "linux", reason="glibc only")


def _faults_of_reused_block(tunables: str | None) -> int:
    env = {key: value for key, value in os.environ.items() if key != "GLIBC_TUNABLES"}
    if tunables:
        env["GLIBC_TUNABLES"] = tunables
    done = subprocess.run([sys.executable, "-c", FAULTS_OF_A_REUSED_BLOCK], env=env, capture_output=True, text=True,
                          timeout=60, check=True)
    return int(done.stdout)


@on_glibc
def test_glibc_reuses_a_freed_large_block_with_the_workers_tunables():
    pages = (1 << 26) // 4096
    assert _faults_of_reused_block(None) > pages // 2  # the control: glibc's defaults fault the block in again
    assert _faults_of_reused_block(KEEP_FREED_MEMORY) < pages // 20


def test_the_tunables_are_set_only_while_the_worker_starts(monkeypatch):
    monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
    monkeypatch.delenv(OPT_OUT_VARIABLE, raising=False)
    with worker_environment():
        assert os.environ["GLIBC_TUNABLES"] == KEEP_FREED_MEMORY
    assert "GLIBC_TUNABLES" not in os.environ  # a training run started later keeps glibc's defaults


def test_the_users_tunables_and_the_opt_out_are_respected(monkeypatch):
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.arena_max=2")
    assert worker_tunables() is None
    with worker_environment():
        assert os.environ["GLIBC_TUNABLES"] == "glibc.malloc.arena_max=2"
    assert os.environ["GLIBC_TUNABLES"] == "glibc.malloc.arena_max=2"
    monkeypatch.delenv("GLIBC_TUNABLES")
    monkeypatch.setenv(OPT_OUT_VARIABLE, "system")
    assert worker_tunables() is None
