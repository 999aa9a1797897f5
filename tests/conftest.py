"""Shared test setup: reproducible seeds, CPU-friendly thread counts, device selection."""
from __future__ import annotations

import atexit
import os
import shutil
import tempfile

import pytest
import torch

# Derived caches (the fast warp's fields) go to a folder of this run, shared by the workers it starts, never the
# user's own (~/.cache/portrait-viz).
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="portrait-viz-test-cache-")
atexit.register(shutil.rmtree, os.environ["XDG_CACHE_HOME"], ignore_errors=True)

# One thread: tests also start render workers and training processes, and on a 2-core machine more
# threads than that made small renders up to 15x slower through oversubscription.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed_everything():
    torch.manual_seed(0)
    yield


def pytest_collection_modifyitems(config, items):
    skip_cuda = pytest.mark.skip(reason="no CUDA device")
    skip_gui = pytest.mark.skip(reason="no DISPLAY: run the suite under xvfb-run")
    for item in items:
        if "cuda" in item.keywords and not torch.cuda.is_available():
            item.add_marker(skip_cuda)
        if "gui" in item.keywords and not os.environ.get("DISPLAY"):
            item.add_marker(skip_gui)


@pytest.fixture(params=["cpu", pytest.param("cuda", marks=pytest.mark.cuda)])
def device(request) -> torch.device:
    """Runs a test on the CPU, and again on CUDA when a GPU is present."""
    return torch.device(request.param)
