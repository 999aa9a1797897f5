"""Renderer tests draw tiny images: one torch thread each, so parallel test runs do not thrash 2 cores."""
from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    # Measured on the shared 2-core machine under load: 2 threads were about 7x slower than 1 for tiny renders.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
