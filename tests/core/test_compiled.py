"""core.compiled: the thread split covers every item once, and a loop compiles even where numba cannot cache it."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from core import compiled

needs_numba = pytest.mark.skipif(not compiled.available(), reason="numba missing")


def _add_one(start, end, values):
    for index in range(start, end):
        values[index] += 1.0


def test_the_split_covers_every_item_once_on_separate_threads():
    parts, names = [], set()

    def loop(start, end, values):
        parts.append((start, end))
        names.add(threading.current_thread().name)
        _add_one(start, end, values)

    values = np.zeros(3 * compiled.MIN_ITEMS_PER_THREAD + 5)
    compiled.run_split(loop, len(values), (values,), threads=3)
    assert np.array_equal(values, np.ones_like(values))
    assert sorted(parts)[0][0] == 0 and sorted(parts)[-1][1] == len(values) and len(parts) == 3
    assert names and all(name.startswith("compiled-loop") for name in names)  # the pool's threads, not the caller
    few = np.zeros(10)  # too few for a second thread: one call on the caller's thread
    parts.clear()
    compiled.run_split(loop, len(few), (few,), threads=4)
    assert parts == [(0, 10)] and np.array_equal(few, np.ones(10))


@needs_numba
def test_a_loop_compiles_and_runs():
    loop = compiled.compile_loop(_add_one)
    values = np.zeros(5000)
    compiled.run_split(loop, len(values), (values,), threads=2)
    assert np.array_equal(values, np.ones(5000))


@needs_numba
def test_without_a_writable_cache_the_loop_is_compiled_uncached(monkeypatch, caplog):
    import numba

    real = numba.njit
    asked = []

    def njit(**options):
        asked.append(options["cache"])
        if options["cache"]:
            raise RuntimeError("cannot cache function: no locator available")
        return real(**options)

    monkeypatch.setattr(numba, "njit", njit)
    with caplog.at_level("INFO", logger="core.compiled"):
        loop = compiled.compile_loop(_add_one)
    values = np.zeros(3)
    loop(0, 3, values)
    assert asked == [True, False] and np.array_equal(values, np.ones(3))
    assert "cannot cache _add_one" in caplog.text


def test_built_once_builds_once_for_threads_that_ask_together():
    builds = []

    def build():
        time.sleep(0.05)  # long enough for the other threads to arrive while it builds
        builds.append(1)
        return object()

    get = compiled.built_once(build)
    got = []
    threads = [threading.Thread(target=lambda: got.append(get())) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert builds == [1] and len({id(item) for item in got}) == 1 and get() is got[0]


def test_map_on_cores_keeps_the_order_runs_single_threaded_and_restores_the_thread_count():
    import torch

    before = torch.get_num_threads()
    seen = []

    def work(item):
        seen.append((threading.current_thread().name, torch.get_num_threads(), torch.is_inference_mode_enabled(),
                     torch.is_grad_enabled()))
        time.sleep(0.01 * (item % 3))  # later items may finish first: the results still come in order
        return item * item

    with torch.inference_mode():  # the caller's modes hold in the items' threads too (they are per thread)
        assert compiled.map_on_cores(work, range(7), threads=2) == [item * item for item in range(7)]
    assert all(name.startswith("cores") and count == 1 and inference and not grad
               for name, count, inference, grad in seen)
    seen.clear()
    with torch.no_grad():
        compiled.map_on_cores(work, range(2), threads=2)
    assert [(inference, grad) for _, _, inference, grad in seen] == [(False, False)] * 2
    with torch.autocast("cpu", dtype=torch.bfloat16):
        dtypes = compiled.map_on_cores(lambda item: torch.mm(torch.ones(2, 2), torch.ones(2, 2)).dtype, range(2), 2)
    assert dtypes == [torch.bfloat16] * 2
    assert torch.get_num_threads() == before
    seen.clear()  # one thread: the caller's own, torch's setting untouched
    assert compiled.map_on_cores(work, range(3), threads=1) == [0, 1, 4]
    assert {entry[0] for entry in seen} == {threading.current_thread().name}


def test_map_on_cores_stops_at_a_failing_check_after_the_started_items():
    import torch

    before = torch.get_num_threads()
    started, finished = [], []

    def work(item):
        started.append(item)
        time.sleep(0.05)
        finished.append(item)
        return item

    def check(item):
        if item == 3:
            raise KeyboardInterrupt("stop")  # any exception: the caller's cancellation

    with pytest.raises(KeyboardInterrupt):
        compiled.map_on_cores(work, range(6), threads=2, check=check)
    assert sorted(started) == sorted(finished) and 3 not in started and max(started) == 2
    assert torch.get_num_threads() == before
