"""How the render worker's process keeps its freed memory (glibc's malloc, read when the process starts).

glibc hands every block over its mmap threshold (at most 32 MB) back to the kernel when it is freed, and the
next frame's block of the same size is faulted in again page by page, zeroed by the kernel: a `paper-512` frame
allocates about 1 GB so, 250k page faults and ~1 s of system CPU time on 2 cores. The worker renders the same
shapes frame after frame, so it keeps freed memory in its heap instead (no mmap'd blocks, no trimming): the
faults drop to ~18k and the system time to ~0.1 s, new-latent `paper-512` frames take 0.8-0.9x as long, and the
resident size settles ~0.5 GB higher (1.6 against 1.1 GB; README "CPU settings measured for speed").

A GLIBC_TUNABLES the user set is left as it is; PORTRAIT_WORKER_MALLOC=system keeps glibc's defaults.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator

KEEP_FREED_MEMORY = "glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=68719476736"  # trim only past 64 GB free
OPT_OUT_VARIABLE = "PORTRAIT_WORKER_MALLOC"


def worker_tunables() -> str | None:
    """The GLIBC_TUNABLES a new worker gets, or None where the user's environment decides."""
    if "GLIBC_TUNABLES" in os.environ or os.environ.get(OPT_OUT_VARIABLE, "").lower() == "system":
        return None
    return KEEP_FREED_MEMORY


@contextmanager
def worker_environment() -> Iterator[None]:
    """Around the start of a spawned worker (which inherits this process's environment): the worker's tunables,
    then the environment as it was, so that other children (a training run) keep glibc's defaults."""
    tunables = worker_tunables()
    if tunables is None:
        yield
        return
    os.environ["GLIBC_TUNABLES"] = tunables
    try:
        yield
    finally:
        os.environ.pop("GLIBC_TUNABLES", None)
