"""Output tensors to display bytes: known values map to known pixels."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from core.display import to_display_image


def test_colour_images_map_minus_one_to_black_and_one_to_white():
    image = torch.tensor([-1.0, 0.0, 1.0, 3.0]).reshape(1, 1, 2, 2).expand(1, 3, 2, 2)
    pixels = to_display_image(image, "image")
    assert pixels.dtype == np.uint8 and pixels.shape == (2, 2, 3)
    assert pixels[..., 0].tolist() == [[0, 128], [255, 255]]


def test_depth_is_min_max_normalised_with_near_white():
    depth = torch.tensor([[2.4, 2.6], [2.8, 3.2]]).reshape(1, 1, 2, 2)
    pixels = to_display_image(depth, "image_depth")
    assert pixels.shape == (2, 2, 3)
    assert pixels[0, 0].tolist() == [255, 255, 255]
    assert pixels[1, 1].tolist() == [0, 0, 0]
    # 2.8 lies half-way between the nearest (2.4) and farthest (3.2) depth.
    assert pixels[1, 0, 0] == 128


def test_flat_depth_shows_black_instead_of_dividing_by_zero():
    assert to_display_image(torch.full((1, 1, 3, 3), 2.7), "image_depth").max() == 0


def test_mask_maps_coverage_to_grey():
    mask = torch.tensor([0.0, 0.5, 1.0, 1.0]).reshape(1, 1, 2, 2)
    assert to_display_image(mask, "image_mask")[..., 1].tolist() == [[0, 128], [255, 255]]


def test_wrong_shape_is_named():
    with pytest.raises(ValueError, match="image_raw"):
        to_display_image(torch.zeros(1, 2, 4, 4), "image_raw")
