"""Seeds to ws: stable z, blending in W around w_avg, style mixing (known answers from the mapping itself)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from core.camera import orbit_camera
from core.config import preset
from core.latents import blended_ws, style_mixed, z_from_seed

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def generator():
    from core.generator import TriGridGenerator

    model = TriGridGenerator(preset("tiny")).eval()
    with torch.no_grad():
        model.backbone.mapping.w_avg.normal_()  # a non-zero average, so that blending around it is visible
    return model


@pytest.fixture(scope="module")
def condition():
    return orbit_camera(0.0, 0.0, device=CPU), torch.zeros(1, 6)


def test_z_is_numpy_randomstate_normal_and_stable():
    z = z_from_seed(42, 16, CPU)
    assert z.shape == (1, 16) and z.dtype == torch.float32
    expected = np.random.RandomState(42).randn(1, 16).astype(np.float32)
    assert np.array_equal(z.numpy(), expected)


@torch.no_grad()
def test_single_seed_with_weight_one_is_plain_truncated_mapping(generator, condition):
    camera, pose = condition
    direct = generator.mapping(z_from_seed(3, generator.config.z_dim, CPU), camera, pose, truncation_psi=0.6)
    assert torch.allclose(blended_ws(generator, ((3, 1.0),), camera, pose, 0.6, None), direct, atol=1e-5)


@torch.no_grad()
def test_blend_is_weighted_around_w_avg(generator, condition):
    camera, pose = condition
    w_avg = generator.backbone.mapping.w_avg
    single = [blended_ws(generator, ((seed, 1.0),), camera, pose, 1.0, None) for seed in (1, 2)]
    blend = blended_ws(generator, ((1, 0.25), (2, 0.5)), camera, pose, 1.0, None)
    expected = w_avg + 0.25 * (single[0] - w_avg) + 0.5 * (single[1] - w_avg)
    assert torch.allclose(blend, expected, atol=1e-5)
    nothing = blended_ws(generator, ((1, 0.0),), camera, pose, 1.0, None)
    assert torch.allclose(nothing, w_avg.expand_as(nothing), atol=1e-6)


@torch.no_grad()
def test_style_mixing_replaces_exactly_the_chosen_layers(generator, condition):
    camera, pose = condition
    ws = blended_ws(generator, ((1, 1.0),), camera, pose, 1.0, None)
    donor = blended_ws(generator, ((77, 1.0),), camera, pose, 1.0, None)
    layers = (0, ws.shape[1] - 1)
    mixed = style_mixed(ws, generator, 77, layers, camera, pose, 1.0, None)
    for index in range(ws.shape[1]):
        source = donor if index in layers else ws
        assert torch.allclose(mixed[:, index], source[:, index], atol=1e-6), index
    with pytest.raises(ValueError, match="do not exist"):
        style_mixed(ws, generator, 77, (ws.shape[1],), camera, pose, 1.0, None)
