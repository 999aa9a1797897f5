"""`python -m core.mesh`: a saved tiny checkpoint to mesh and grid files that match the API, pose parsing, errors."""
import argparse

import numpy as np
import pytest
import torch
import trimesh

from core.camera import orbit_camera
from core.checkpoint import generator_payload, save_checkpoint
from core.config import preset
from core.generator import TriGridGenerator
from core.mesh import MeshOptions, generator_mesh, load_grid, median_level
from core.mesh.__main__ import main, pose_degrees
from core.mesh.separable import separable_density_grid
from core.latents import blended_ws

SEED, PSI, RESOLUTION = 3, 0.7, 24


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(5)
    generator = TriGridGenerator(preset("tiny")).eval().requires_grad_(False)
    path = save_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.pt", generator_payload(generator))
    return path, generator


def _api_mesh(generator, level):
    ws = blended_ws(generator, ((SEED, 1.0),), orbit_camera(0.0, 0.0), torch.zeros(1, 6), PSI, None)
    planes = generator.synthesize_trigrid(ws)
    return generator_mesh(generator, planes, ws, MeshOptions(resolution=RESOLUTION, level=level)), planes


def test_cli_writes_the_api_mesh_with_colours_and_the_raw_grid(checkpoint, tmp_path, capsys):
    path, generator = checkpoint
    _, planes = _api_mesh(generator, 0.0)
    level = median_level(separable_density_grid(generator, planes, RESOLUTION, ((-0.4, -0.5, -0.4), (0.4, 0.5, 0.4))))
    expected, _ = _api_mesh(generator, level)
    out, grid_out = tmp_path / "seed3.glb", tmp_path / "seed3.npy"
    code = main([str(path), "--seed", str(SEED), "--resolution", str(RESOLUTION), "--level", str(level),
                 "--out", str(out), "--grid-out", str(grid_out), "--device", "cpu"])
    assert code == 0
    loaded = trimesh.load(out, force="mesh", process=False)
    np.testing.assert_allclose(loaded.vertices, expected.vertices, atol=1e-5)
    np.testing.assert_array_equal(loaded.faces, expected.faces)
    np.testing.assert_array_equal(loaded.visual.vertex_colors[:, :3], expected.colors)
    np.testing.assert_array_equal(load_grid(grid_out), expected.grid)
    assert f"{len(expected.vertices)} vertices" in capsys.readouterr().err


def test_cli_names_a_level_outside_the_field_and_a_bad_file(checkpoint, tmp_path, capsys):
    path, _ = checkpoint
    code = main([str(path), "--seed", "0", "--resolution", "8", "--level", "1e6", "--out", str(tmp_path / "m.ply")])
    assert code == 1 and "choose a --level inside that range" in capsys.readouterr().err
    assert not (tmp_path / "m.ply").exists()
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    assert main([str(broken), "--seed", "0", "--out", str(tmp_path / "m.ply")]) == 1
    assert "broken.pt" in capsys.readouterr().err
    assert main(["preset:tiny", "--seed", "0", "--resolution", "4096", "--out", str(tmp_path / "m.ply")]) == 1
    assert "at most" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["preset:tiny", "--seed", "0", "--out", str(tmp_path / "m.stl")])


def test_posed_angles_accept_six_numbers_two_triples_or_two_nods():
    assert pose_degrees(None) == (0.0,) * 6
    assert pose_degrees(["10,0,-5,0,30,0"]) == (10.0, 0.0, -5.0, 0.0, 30.0, 0.0)
    assert pose_degrees(["10,0,-5", "0,30,0"]) == (10.0, 0.0, -5.0, 0.0, 30.0, 0.0)
    assert pose_degrees(["15,20"]) == (15.0, 0.0, 0.0, 20.0, 0.0, 0.0)
    with pytest.raises(argparse.ArgumentTypeError, match="6 numbers"):
        pose_degrees(["1,2,3"])


def test_posed_cli_extraction_is_the_warped_grid_of_the_pose_conditioned_latent(checkpoint, tmp_path):
    path, generator = checkpoint
    _, planes = _api_mesh(generator, 0.0)
    level = median_level(separable_density_grid(generator, planes, 16, ((-0.4, -0.5, -0.4), (0.4, 0.5, 0.4))))
    rest, turned = tmp_path / "rest.npy", tmp_path / "turned.npy"
    common = ["--seed", str(SEED), "--resolution", "16", "--level", str(level), "--no-colors", "--device", "cpu",
              "--warp", "grid", "--warp-resolution", "12"]
    assert main([str(path), *common, "--out", str(tmp_path / "rest.ply"), "--grid-out", str(rest)]) == 0
    assert main([str(path), *common, "--posed", "0,0,0", "0,60,0", "--out", str(tmp_path / "turned.ply"),
                 "--grid-out", str(turned)]) == 0
    # The same extraction through the API: pose-conditioned latent, grid warp of the stand-in body.
    from core.body import load_body_model, pose_from_degrees
    from core.body.warp import make_warp
    from core.mesh import density_grid, generator_density_field

    pose = pose_from_degrees((0, 0, 0), (0, 60, 0))[None]
    ws = blended_ws(generator, ((SEED, 1.0),), orbit_camera(0.0, 0.0), pose, PSI, None)
    warp = make_warp(load_body_model(), pose, "grid", thickness=generator.config.thickness, resolution=12)
    expected = density_grid(generator_density_field(generator, generator.synthesize_trigrid(ws)), 16,
                            ((-0.4, -0.5, -0.4), (0.4, 0.5, 0.4)), point_warp=warp)
    np.testing.assert_allclose(load_grid(turned), expected, atol=1e-5)
    assert np.abs(load_grid(turned) - load_grid(rest)).max() > 0.01
