"""core.rendering.point_sampling: the threaded split gives grid_sample's values exactly, for any point count."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from core.rendering.point_sampling import MIN_POINTS_PER_PART, sample_volume


@pytest.mark.parametrize("count", [5, MIN_POINTS_PER_PART * 2 + 1, MIN_POINTS_PER_PART * 4 + 3])
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_split_sampling_equals_one_grid_sample(count, threads):
    generator = torch.Generator().manual_seed(count)
    volume = torch.randn(1, 3, 9, 10, 11, generator=generator)
    points = torch.rand(count, 3, generator=generator) * 2.4 - 1.2  # some outside: the padding mode matters
    expected = F.grid_sample(volume, points.reshape(1, -1, 1, 1, 3), mode="bilinear", padding_mode="border",
                             align_corners=True).reshape(3, -1).t()
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        values = sample_volume(volume, points)
    finally:
        torch.set_num_threads(previous)
    assert values.shape == (count, 3)
    assert torch.equal(values, expected)
