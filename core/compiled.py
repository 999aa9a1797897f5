"""Compiled CPU loops (numba) for the few places where whole-array torch operations spend their time passing over
memory rather than computing: the fast body warp's per-point decision (core/body/warp_kernel.py), the tri-grid
gather's corner rows and weights (core/rendering/gather_kernel.py), the tile transforms of the Winograd
convolutions (core/networks/winograd.py) and the decoder's bias and softplus (core/networks/softplus_kernel.py).
(The gather's weighted sum itself was tried too and stayed with embedding_bag: it is memory-bound, docs/body.md.)

Each loop is written as plain Python over index ranges, compiled on first use with `compile_loop` (kept in
numba's on-disk cache, so later processes load it in well under a second), releases the GIL, and runs over
parts of its range on separate threads (`run_split`). Without numba the callers use their torch operations.

`map_on_cores` runs independent pieces of torch work (a render's ray chunks) on those threads too, one core each.
"""
from __future__ import annotations

import collections
import concurrent.futures
import importlib.util
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, TypeVar

import torch

log = logging.getLogger(__name__)
MIN_ITEMS_PER_THREAD = 4096  # below this a thread's start costs more than its share
_POOL_LOCK = threading.Lock()
# By (process, size, purpose): a forked child starts its own.
_pools: dict[tuple[int, int, str], ThreadPoolExecutor] = {}


def available() -> bool:
    """True when numba is installed (a requirement; a user's environment may still lack it)."""
    return importlib.util.find_spec("numba") is not None


def compile_loop(function: Callable, inline: bool = False, contract: bool = False) -> Callable:
    """`function` compiled by numba: no GIL, cached on disk, division by zero gives inf as in torch (no check per
    division); `inline` for small helpers that the loops call by their module-level names; `contract` lets a
    multiply and an add become one fused multiply-add (one rounding instead of two: polynomials)."""
    import numba  # optional, and 0.4 s to import: only the compiled CPU paths need it

    options = dict(nogil=True, error_model="numpy", inline="always" if inline else "never",
                   fastmath={"contract"} if contract else False)
    try:
        return numba.njit(cache=True, **options)(function)
    except RuntimeError as error:  # no writable cache folder (read-only install and home): compile each process
        log.info("numba cannot cache %s (%s): it is compiled in every process", function.__name__, error)
        return numba.njit(cache=False, **options)(function)


def float32_from_bits() -> Callable:
    """A helper for compiled loops: float32_from_bits(int32) is the float32 with those 32 bits (e.g. 2^n as
    (127 + n) << 23), one instruction that the loops' vectorisation keeps."""
    from llvmlite import ir  # numba's own dependency: only the compiled CPU paths need it
    from numba import types
    from numba.extending import intrinsic

    @intrinsic
    def bits_to_float32(typing_context, bits):
        if bits != types.int32:
            return None
        return types.float32(types.int32), lambda context, builder, signature, args: builder.bitcast(
            args[0], ir.FloatType())

    return bits_to_float32


Built = TypeVar("Built")


def built_once(build: Callable[[], Built]) -> Callable[[], Built]:
    """A getter of build()'s result, made on first use (e.g. compiling loops) under a lock, since threads (a warm-up
    thread, the render) may ask together; no lock once it is made, since every call of a hot path asks."""
    made: list = []
    lock = threading.Lock()

    def get() -> Built:
        if made:
            return made[0]
        with lock:
            if not made:
                made.append(build())
            return made[0]

    return get


def run_split(loop: Callable, count: int, args: tuple, threads: int, start: int = 0,
              min_items: int = MIN_ITEMS_PER_THREAD) -> None:
    """loop(start, end, *args) over [start, start + count) in up to `threads` parts of at least `min_items` items
    (fewer for heavy items), each on its own thread."""
    parts = max(1, min(threads, count // min_items))
    if parts == 1:
        loop(start, start + count, *args)
        return
    edges = [start + count * index // parts for index in range(parts + 1)]
    pool = _pool(parts)
    for job in [pool.submit(loop, edges[index], edges[index + 1], *args) for index in range(parts)]:
        job.result()


Item = TypeVar("Item")
Result = TypeVar("Result")


def map_on_cores(function: Callable[[Item], Result], items: Iterable[Item], threads: int,
                 check: Callable[[Item], None] | None = None) -> list[Result]:
    """[function(item) for item in items], up to `threads` items at a time, each on a thread of its own whose torch
    operations run single-threaded: one core per item rather than every operation split over all cores, whose
    start and join cost more than a short operation (`small` frames 0.88x). `check(item)` runs before each item
    starts and may raise to stop; items already started finish before the exception goes on."""
    items = list(items)
    if threads <= 1 or len(items) < 2:
        results = []
        for item in items:
            if check is not None:
                check(item)
            results.append(function(item))
        return results
    previous = torch.get_num_threads()
    # Grad, inference and autocast modes are per thread: the items run in the caller's.
    modes = (torch.is_grad_enabled(), torch.is_inference_mode_enabled(), torch.is_autocast_enabled("cpu"),
             torch.get_autocast_dtype("cpu"))
    pool = _pool(threads, "cores")
    pending: collections.deque = collections.deque()
    results = []
    try:
        for item in items:
            if check is not None:
                check(item)
            if len(pending) >= threads:
                results.append(pending.popleft().result())
            pending.append(pool.submit(_single_threaded, function, item, modes))
        while pending:
            results.append(pending.popleft().result())
    finally:
        concurrent.futures.wait(pending)
        # The items' threads lowered torch's shared count; each keeps its own (OpenMP's is per thread).
        torch.set_num_threads(previous)
    return results


def _single_threaded(function: Callable[[Item], Result], item: Item, modes: tuple) -> Result:
    torch.set_num_threads(1)
    grad, inference, autocast, autocast_dtype = modes
    with (torch.inference_mode(inference), torch.set_grad_enabled(grad),
          torch.autocast("cpu", dtype=autocast_dtype, enabled=autocast)):
        return function(item)


def _pool(size: int, purpose: str = "compiled-loop") -> ThreadPoolExecutor:
    """The process's pool of `size` threads for `purpose` (map_on_cores' items call run_split: separate pools)."""
    key = (os.getpid(), size, purpose)
    with _POOL_LOCK:
        if key not in _pools:
            _pools[key] = ThreadPoolExecutor(max_workers=size, thread_name_prefix=purpose)
        return _pools[key]
