"""The training geometry figure (core/train/geometry.py): chamfer distances with known answers, and the
generated people are the viewer's scenes of seeds GEOMETRY_SEED, GEOMETRY_SEED + 1 (core.scene)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from core.loading import load_generator
from core.mesh import DEFAULT_MESH_BOUNDS, MeshOptions, generator_mesh
from core.scene import SceneBuilder, SceneSpec
from core.train.geometry import GEOMETRY_SEED, SURFACE_SAMPLES, chamfer, crop_faces, evaluate_geometry, sample_surface

DEFAULT = Path(__file__).resolve().parents[2] / "checkpoints" / "default.pt"
SQUARE = (np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], float), np.array([[0, 1, 2], [0, 2, 3]]))


def test_chamfer_is_zero_on_itself_and_the_offset_of_a_parallel_copy():
    points = sample_surface(*SQUARE, 20000, np.random.default_rng(0))
    assert np.all(points[:, 2] == 0) and points[:, :2].min() >= 0 and points[:, :2].max() <= 1
    assert chamfer(points, points)["chamfer"] == 0.0
    lifted = points + np.array([0.0, 0.0, 0.01])
    assert chamfer(points, lifted)["chamfer"] == pytest.approx(0.01, abs=1e-3)  # the offset, plus sampling gaps


class OwnSurfaces:
    """Ground truth = the generator's own canonical surfaces of seeds `first` and `first + 1`."""

    def __init__(self, generator, first: int):
        scenes, rng = SceneBuilder(generator, lambda: None), np.random.default_rng(1)
        self.samples = []
        for person in range(2):
            spec = SceneSpec(seeds=((first + person, 1.0),), truncation_psi=1.0)
            with torch.no_grad():
                mesh = generator_mesh(generator, scenes.planes(spec), None, MeshOptions(resolution=64, colors=False))
            faces = crop_faces(mesh.vertices, mesh.faces, DEFAULT_MESH_BOUNDS)
            self.samples.append(sample_surface(mesh.vertices, faces, SURFACE_SAMPLES, rng))


@pytest.mark.skipif(not DEFAULT.is_file(), reason="needs the shipped default model")
def test_generated_people_are_the_scenes_of_their_seeds():
    generator, _ = load_generator(DEFAULT, "cpu")
    same = evaluate_geometry(generator, OwnSurfaces(generator, GEOMETRY_SEED), torch.device("cpu"))
    assert same["Eval/geometry/surfaces"] == 2.0
    assert same["Eval/geometry/chamfer"] < 0.01  # the same surfaces sampled twice: 4000 points leave ~0.008
    others = evaluate_geometry(generator, OwnSurfaces(generator, GEOMETRY_SEED + 400), torch.device("cpu"))
    assert others["Eval/geometry/chamfer"] > 2 * same["Eval/geometry/chamfer"]  # other people: measured 0.022
