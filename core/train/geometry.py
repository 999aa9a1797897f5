"""The geometry figure: how far G_ema's canonical surface lies from the ground-truth people of a synthetic dataset.

A generated person is no particular person of the dataset, so each generated canonical surface is compared
with every ground-truth identity (rebuilt by core.data.records.identity_mesh, in the same neck-aligned world
frame as the generator's canonical space) and the closest one counts. Both surfaces are cut to the mesh box
(the tri-grid's crop) and sampled uniformly by area; the chamfer distance is the mean of
accuracy (generated -> truth) and completeness (truth -> generated), in world units.
Only datasets written by `python -m core.data synth` (with synth.json) have ground truth; others give no figure.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from scipy.spatial import cKDTree

from core.data.records import identity_mesh, read_record
from core.mesh import DEFAULT_MESH_BOUNDS, MeshOptions, generator_mesh
from core.scene import SceneBuilder, SceneSpec

SURFACE_SAMPLES = 4000  # points drawn on each surface
MAX_IDENTITIES = 8  # ground-truth people compared against
GEOMETRY_SEED = 99  # seed of the first evaluated generated person (the next ones follow)


def sample_surface(vertices: np.ndarray, faces: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """`count` points uniformly distributed by area on a triangle mesh: [V, 3], [F, 3] -> [count, 3]."""
    triangles = vertices[faces]  # [F, 3, 3]
    areas = 0.5 * np.linalg.norm(np.cross(triangles[:, 1] - triangles[:, 0], triangles[:, 2] - triangles[:, 0]), axis=1)
    chosen = rng.choice(len(faces), size=count, p=areas / areas.sum())
    u, v = rng.random(count), rng.random(count)
    flip = u + v > 1  # fold the unit square onto the triangle
    u[flip], v[flip] = 1 - u[flip], 1 - v[flip]
    corners = triangles[chosen]
    return corners[:, 0] + u[:, None] * (corners[:, 1] - corners[:, 0]) + v[:, None] * (corners[:, 2] - corners[:, 0])


def chamfer(generated: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Accuracy, completeness and their mean between two point sets [N, 3] and [M, 3] (world units)."""
    accuracy = float(cKDTree(truth).query(generated)[0].mean())
    completeness = float(cKDTree(generated).query(truth)[0].mean())
    return {"accuracy": accuracy, "completeness": completeness, "chamfer": 0.5 * (accuracy + completeness)}


def crop_faces(vertices: np.ndarray, faces: np.ndarray, bounds) -> np.ndarray:
    """Faces whose three vertices lie inside the box `bounds` = (low xyz, high xyz)."""
    low, high = np.asarray(bounds[0]), np.asarray(bounds[1])
    inside = np.all((vertices >= low) & (vertices <= high), axis=1)
    return faces[inside[faces].all(axis=1)]


class GroundTruthSurfaces:
    """Surface samples of up to MAX_IDENTITIES ground-truth people of a synthetic dataset (built once per run)."""

    def __init__(self, dataset_root: Path, bounds):
        record = read_record(dataset_root)
        rng = np.random.default_rng(0)
        self.samples = []
        for identity in sorted(record.identities)[:MAX_IDENTITIES]:
            mesh = identity_mesh(dataset_root, identity)
            faces = crop_faces(mesh.vertices, mesh.faces, bounds)
            if len(faces):
                self.samples.append(sample_surface(mesh.vertices, faces, SURFACE_SAMPLES, rng))

    @classmethod
    def find(cls, dataset_path: Path, bounds) -> "GroundTruthSurfaces | None":
        """The surfaces of a synth output folder (synth.json beside or above the images), else None."""
        for root in (dataset_path, dataset_path.parent):
            if (root / "synth.json").is_file():
                surfaces = cls(root, bounds)
                return surfaces if surfaces.samples else None
        return None


@torch.no_grad()
def evaluate_geometry(G_ema, truth: GroundTruthSurfaces, device: torch.device, people: int = 2,
                      resolution: int = 64) -> dict[str, float]:
    """Chamfer figures (world units) of `people` generated canonical surfaces against their closest true person.

    `Eval/geometry/surfaces` counts the generated people that had a surface at the mesh level at all
    (early in training there is none, and the distance figures are then left out).
    """
    options = MeshOptions(resolution=resolution, colors=False)
    rng = np.random.default_rng(GEOMETRY_SEED)
    scenes = SceneBuilder(G_ema, lambda: None)  # canonical surfaces: no body, no warp
    results = []
    for person in range(people):
        # Seeds GEOMETRY_SEED, +1, ... untruncated, conditioned frontally at rest: the viewer's scene of that seed.
        spec = SceneSpec(seeds=((GEOMETRY_SEED + person, 1.0),), truncation_psi=1.0)
        mesh = generator_mesh(G_ema, scenes.planes(spec), None, options)
        faces = crop_faces(mesh.vertices, mesh.faces, DEFAULT_MESH_BOUNDS)
        if len(faces) == 0:
            continue
        generated = sample_surface(mesh.vertices, faces, SURFACE_SAMPLES, rng)
        results.append(min((chamfer(generated, true_points) for true_points in truth.samples),
                           key=lambda figures: figures["chamfer"]))
    figures = {"Eval/geometry/surfaces": float(len(results))}
    for name in ("chamfer", "accuracy", "completeness"):
        if results:
            figures[f"Eval/geometry/{name}"] = float(np.mean([result[name] for result in results]))
    return figures
