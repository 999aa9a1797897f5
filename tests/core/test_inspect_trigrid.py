"""Tri-grid pictures: texel <-> world round trips through sample_trigrid, stable PCA colours, colour maps."""
import numpy as np
import pytest
import torch

from core.inspect import (
    apply_colormap, colorbar, fit_pca_basis, plane_pixel_to_world, plane_statistics, trigrid_preview,
    world_to_plane_pixel,
)
from core.inspect.colormaps import COLORMAP_STOPS
from core.rendering import sample_trigrid


@pytest.mark.parametrize("box_warp", [1.0, 0.8])
def test_texel_to_world_samples_back_that_texel(box_warp):
    channels, depth, height, width = 4, 3, 6, 10  # unequal sizes: swapped axes would be caught
    planes = torch.randn(1, 3, channels * depth, height, width)
    rows, columns, slices = np.meshgrid(np.arange(height), np.arange(width), np.arange(depth), indexing="ij")
    for plane in range(3):
        world = plane_pixel_to_world(plane, rows, columns, slices, height, width, depth, box_warp)
        points = torch.tensor(world.reshape(1, -1, 3), dtype=torch.float32)
        sampled = sample_trigrid(planes, points, box_warp, depth)[0, plane]  # [N, C]
        volume = planes[0, plane].reshape(channels, depth, height, width)
        expected = volume[:, slices.reshape(-1), rows.reshape(-1), columns.reshape(-1)].T
        torch.testing.assert_close(sampled, expected, atol=1e-5, rtol=1e-5)
        back = world_to_plane_pixel(plane, world, height, width, depth, box_warp)
        for got, want in zip(back, (rows, columns, slices)):
            np.testing.assert_allclose(got, want, atol=1e-9)


def test_plane_axes_follow_the_sampling_convention():
    # Plane 2 "YZ": columns run along y, rows along z, slices along x.
    world = plane_pixel_to_world(2, row=[0, 7], column=[0, 0], depth_index=[0, 0], height=8, width=4, depth=2)
    assert world[0, 2] == pytest.approx(-0.5 + 0.5 / 8) and world[1, 2] == pytest.approx(0.5 - 0.5 / 8)
    assert world[0, 1] == pytest.approx(-0.5 + 0.5 / 4) and world[0, 0] == pytest.approx(-0.25)


def _structured_planes(noise: float, seed: int = 0) -> torch.Tensor:
    """Planes with three spatial patterns of clearly different strength along fixed channel directions."""
    generator = torch.Generator().manual_seed(seed)
    channels, depth, size = 8, 3, 16
    loadings = torch.linalg.qr(torch.randn(channels, 3, generator=torch.Generator().manual_seed(99)))[0].T  # [3, C]
    y, x = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    patterns = torch.stack([3 * x, 2 * y, x * y])  # [3, H, W], variances well apart
    volume = torch.einsum("kc,khw->chw", loadings, patterns)[:, None].expand(channels, depth, size, size)
    planes = volume.reshape(1, 1, channels * depth, size, size).expand(1, 3, -1, -1, -1).clone()
    return planes + noise * torch.randn(planes.shape, generator=generator), loadings


def test_pca_colours_follow_the_strongest_pattern_and_stay_put():
    planes, loadings = _structured_planes(noise=0.01)
    basis = fit_pca_basis(planes, depth=3)
    # The first component is the x pattern's direction, signed so its largest loading is positive.
    first = basis.components[0, 0]
    sign = np.sign(loadings[0].numpy()[np.abs(loadings[0].numpy()).argmax()])
    np.testing.assert_allclose(first, sign * loadings[0].numpy(), atol=0.01)
    images = trigrid_preview(planes, 3, "pca", basis).images
    red = images[0, 1, 8].astype(int)[:, 0]  # one row of plane 0, slice 1, across x
    assert (np.diff(red) * sign >= 0).all() and abs(int(red[-1]) - int(red[0])) > 200
    again = trigrid_preview(planes, 3, "pca", basis).images
    np.testing.assert_array_equal(again, images)
    # A slightly different tri-grid, refitted from scratch: nearly the same colours, no channel inverted.
    moved, _ = _structured_planes(noise=0.01, seed=1)
    refitted = trigrid_preview(moved, 3, "pca").images
    assert np.abs(refitted.astype(int) - images.astype(int)).mean() < 3
    assert np.abs(refitted.astype(int) - images.astype(int))[..., :2].max() < 40


def test_kept_basis_gives_nearly_the_same_picture_for_a_nearby_latent():
    from core.camera import orbit_camera
    from core.config import preset
    from core.generator import TriGridGenerator

    generator = TriGridGenerator(preset("tiny")).eval().requires_grad_(False)
    camera = orbit_camera(0.0, 0.0)
    z = torch.randn(1, generator.config.z_dim)
    reference = generator.synthesize_trigrid(generator.mapping(z, camera, truncation_psi=0.0))  # w_avg's tri-grid
    basis = fit_pca_basis(reference, generator.config.triplane_depth)
    near = generator.synthesize_trigrid(generator.mapping(z, camera, truncation_psi=0.02))
    far = generator.synthesize_trigrid(generator.mapping(-z, camera, truncation_psi=1.0))
    depth = generator.config.triplane_depth
    base = trigrid_preview(reference, depth, "pca", basis).images.astype(int)
    assert np.abs(trigrid_preview(near, depth, "pca", basis).images.astype(int) - base).mean() < 2
    assert np.abs(trigrid_preview(far, depth, "pca", basis).images.astype(int) - base).mean() > 2


def test_channel_mode_uses_the_colour_map_and_reports_ranges_and_statistics():
    planes = torch.arange(3 * 2 * 3 * 4 * 5, dtype=torch.float32).reshape(1, 3, 6, 4, 5)
    preview = trigrid_preview(planes, depth=3, mode="channel", channel=1, colormap="magma")
    volume = planes[0, 2].reshape(2, 3, 4, 5)[1]
    assert tuple(preview.value_ranges[2]) == (float(volume.min()), float(volume.max()))
    low_texel = np.unravel_index(int(volume.argmin()), volume.shape)
    assert tuple(preview.images[2][low_texel]) == (0, 0, 4)  # magma's first stop
    stats = plane_statistics(planes)
    assert stats[1].min == float(planes[0, 1].min()) and stats[1].max == float(planes[0, 1].max())
    assert stats[0].mean == pytest.approx(float(planes[0, 0].mean()))
    with pytest.raises(ValueError, match="channels 0..1"):
        trigrid_preview(planes, depth=3, mode="channel", channel=2)
    with pytest.raises(ValueError, match="'pca' or 'channel'"):
        trigrid_preview(planes, depth=3, mode="rgb")


def test_colour_maps_hit_their_stops_and_the_bar_runs_high_to_low():
    values = np.array([0.0, 0.5, 1.0, 2.0, -1.0])
    colours = apply_colormap(values, 0.0, 1.0, "viridis")
    assert tuple(colours[0]) == (0x44, 0x01, 0x54) and tuple(colours[2]) == (0xfd, 0xe7, 0x25)
    assert tuple(colours[1]) == tuple(int(COLORMAP_STOPS["viridis"][4][i:i + 2], 16) for i in (0, 2, 4))
    assert tuple(colours[3]) == tuple(colours[2]) and tuple(colours[4]) == tuple(colours[0])  # clamped
    bar = colorbar("gray", length=5, width=2)
    assert bar.shape == (5, 2, 3) and bar[0, 0, 0] == 255 and bar[-1, 0, 0] == 0
    with pytest.raises(ValueError, match="viridis"):
        apply_colormap(values, 0, 1, "jet")
