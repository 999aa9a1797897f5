"""Empty-space skipping (core.rendering.occupancy): a conservative grid, far fewer samples decoded, and the
same image within 40 dB on the shipped default (at rest and posed) and on a paper-512-sized model."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from core.bench.render import psnr_db, skip_figures
from core.body import load_body_model
from core.camera import orbit_camera
from core.loading import load_generator
from core.config import preset
from core.generator import TriGridGenerator
from core.rendering.occupancy import HALF_EXTENT, build_occupancy
from core.scene import SceneBuilder, SceneSpec

DEFAULT = Path(__file__).resolve().parents[2] / "checkpoints" / "default.pt"
POSE = (10.0, 25.0, 0.0, 0.0, 20.0, 5.0)


def test_a_sphere_is_occupied_inside_empty_far_outside_and_unknown_space_counts_as_occupied():
    def sphere(points):  # raw sigma: +20 inside a ball of radius 0.2 around (0, 0.1, 0), -20 outside
        return torch.where((points - torch.tensor([0.0, 0.1, 0.0])).norm(dim=-1, keepdim=True) < 0.2, 20.0, -20.0)

    grid = build_occupancy(sphere, torch.device("cpu"), box_warp=1.0, triplane_crop=0.1, density_bias=-1.0)
    query = torch.tensor([[[0.0, 0.1, 0.0], [0.0, 0.29, 0.0], [0.0, 0.45, 0.0], [0.3, -0.4, 0.3],
                           [0.0, 0.0, HALF_EXTENT + 0.1]]])
    assert grid(query)[0].tolist() == [True, True, False, False, True]
    # Every point of the ball is in an occupied cell (the dilation keeps its rim).
    ball = torch.randn(1, 4000, 3)
    ball = ball / ball.norm(dim=-1, keepdim=True) * 0.2 * torch.rand(1, 4000, 1) ** (1 / 3) + torch.tensor([0, 0.1, 0])
    assert grid(ball).all()
    assert 0.01 < grid.fraction < 0.1


@pytest.mark.skipif(not DEFAULT.is_file(), reason="the shipped default checkpoint is missing")
@pytest.mark.parametrize("pose", [(0.0,) * 6, POSE], ids=["rest", "posed"])
def test_the_default_renders_the_same_image_with_far_fewer_decoded_samples(pose):
    generator, _ = load_generator(str(DEFAULT), "cpu")
    scenes = SceneBuilder(generator, lambda: load_body_model(None))
    spec = SceneSpec(seeds=((2, 1.0),), pose_deg=pose, cond_pose_deg=pose)
    decoded = []
    original = generator._decode
    generator._decode = lambda planes, points, options: decoded.append(points.shape[1]) or original(planes, points,
                                                                                                    options)
    rendering = dataclasses.replace(generator.config.rendering, deterministic=True)
    images = {}
    with torch.no_grad():
        ws = scenes.ws(spec)
        planes = scenes.planes(spec, ws)
        occupancy, warp = scenes.occupancy(spec, planes), scenes.warp(spec)
        for name, grid in (("full", None), ("skip", occupancy)):
            decoded.clear()
            images[name] = generator.render(ws, planes, orbit_camera(40.0, 10.0), rendering=rendering,
                                            point_warp=warp, occupancy=grid).image
            images[name + " points"] = sum(decoded)
    assert psnr_db(images["full"], images["skip"]) >= 40.0
    assert images["skip points"] < 0.6 * images["full points"], "most samples lie in empty space and are skipped"


def test_a_paper_512_sized_model_keeps_its_image():
    torch.manual_seed(0)
    generator = TriGridGenerator(preset("paper-512")).eval()
    figures = skip_figures(generator, "paper-512", torch.device("cpu"), repeats=1, neural_resolution=16,
                           outputs=("image_raw",), samples=12)
    assert figures["render.skip_psnr_db.paper-512"] >= 40.0
    assert figures["render.occupied_fraction.paper-512"] < 0.5  # the cropped walls and beyond are skipped


def test_the_viewer_skips_by_default_and_the_request_turns_it_off():
    from renderer.engine import Renderer
    from renderer.requests import RenderRequest

    renderer = Renderer("cpu")
    first = RenderRequest(checkpoint="preset:tiny", neural_resolution=16)
    assert renderer.render(first).ok and renderer.stats["occupancy_misses"] == 0  # a new tri-grid: no wait
    moved = first.replace(yaw_deg=20.0)
    off = renderer.render(moved.replace(skip_empty_space=False))
    on = renderer.render(moved)  # the camera moved: the tri-grid is reused and the grid pays off
    assert on.error is None and off.error is None
    assert renderer.stats["occupancy_misses"] == 1
    assert psnr_db(torch.as_tensor(on.image) / 127.5 - 1, torch.as_tensor(off.image) / 127.5 - 1) >= 40.0


@pytest.mark.parametrize("skipped_share, compacted", [(0.5, True), (0.1, False)])
def test_samples_are_compacted_only_when_enough_of_them_are_skipped(skipped_share, compacted):
    """Gathering the kept points and scattering their outputs back costs about what decoding 15% of them saves:
    below that share every point is decoded (the image of full sampling)."""
    from core.rendering import volume

    generator = torch.Generator().manual_seed(0)
    origins, directions = torch.zeros(1, 40, 3), torch.nn.functional.normalize(torch.randn(1, 40, 3), dim=-1)
    depths = torch.rand(1, 40, 25, 1, generator=generator)
    decoded = []

    def decode(points):  # a smooth field; records how many points it was given
        decoded.append(points.shape[1])
        return points.sum(-1, keepdim=True), points.repeat(1, 1, 2)

    def occupancy(points):  # the first `skipped_share` of the samples lie in empty cells
        keep = torch.ones(points.shape[:2], dtype=torch.bool)
        keep[:, :int(skipped_share * points.shape[1])] = False
        return keep

    options = dataclasses.replace(preset("tiny").rendering, triplane_crop=0.0, box_warp=100.0)
    sigma, features = volume._decode_along_rays(decode, origins, directions, depths, options, None, occupancy)
    full_sigma, full_features = volume._decode_along_rays(decode, origins, directions, depths, options, None, None)
    assert decoded[0] == (int((1 - skipped_share) * 1000) if compacted else 1000)
    skipped = ~occupancy(torch.zeros(1, 1000, 3)).reshape(1, 40, 25, 1)
    if compacted:
        assert torch.equal(sigma[skipped], torch.full_like(sigma[skipped], volume.CROPPED_SIGMA))
        assert torch.equal(sigma[~skipped], full_sigma[~skipped])
    else:
        assert torch.equal(sigma, full_sigma) and torch.equal(features, full_features)
