"""Draw the stand-in bust (rest pose, posed, skinning weights) into docs/images/body_*.png.

A tiny numpy z-buffer rasteriser with Lambert shading, so the pictures need no OpenGL:
    python docs/render_body_images.py
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.body import load_body_model, pose_from_degrees  # noqa: E402

IMAGE_DIR = ROOT / "docs" / "images"
SIZE = 320  # pixels per side of each view


def _view(vertices: np.ndarray, yaw_deg: float) -> np.ndarray:
    """Rotate the body about y so that a camera on +z sees it from `yaw_deg` (positive: the subject's left)."""
    yaw = math.radians(yaw_deg)
    rotation = np.array([[math.cos(yaw), 0, -math.sin(yaw)], [0, 1, 0], [math.sin(yaw), 0, math.cos(yaw)]])
    return vertices @ rotation.T


def rasterise(vertices: np.ndarray, faces: np.ndarray, colours: np.ndarray, yaw_deg: float) -> np.ndarray:
    """Shaded image [SIZE, SIZE, 3] uint8 of the mesh (vertices [V, 3], colours [V, 3] in 0..1)."""
    viewed = _view(vertices, yaw_deg)
    camera_distance, focal = 2.0, 4.2  # a portrait lens on the point (0, -0.05, 0), seen from +z
    depth = camera_distance - viewed[:, 2]
    pixels = np.stack([viewed[:, 0] / depth, -(viewed[:, 1] + 0.05) / depth], axis=1) * focal * SIZE / 2 + SIZE / 2
    triangles = viewed[faces]
    normals = np.cross(triangles[:, 1] - triangles[:, 0], triangles[:, 2] - triangles[:, 0])
    vertex_normals = np.zeros_like(viewed)
    for corner in range(3):  # area-weighted vertex normals for smooth (Gouraud) shading
        np.add.at(vertex_normals, faces[:, corner], normals)
    vertex_normals /= np.linalg.norm(vertex_normals, axis=1, keepdims=True) + 1e-12
    light = np.array([0.35, 0.45, 0.82]) / np.linalg.norm([0.35, 0.45, 0.82])
    shade = 0.22 + 0.78 * np.clip(vertex_normals @ light, 0, 1)
    shaded_colours = colours * shade[:, None]
    zbuffer = np.full((SIZE, SIZE), np.inf)
    image = np.full((SIZE, SIZE, 3), 0.93)
    for index in np.flatnonzero(normals[:, 2] > 0):  # back faces are hidden on a closed surface
        corners, corner_depth = pixels[faces[index]], depth[faces[index]]
        low = np.maximum(np.floor(corners.min(axis=0)).astype(int), 0)
        high = np.minimum(np.ceil(corners.max(axis=0)).astype(int), SIZE - 1)
        if (high < low).any():
            continue
        xs, ys = np.meshgrid(np.arange(low[0], high[0] + 1) + 0.5, np.arange(low[1], high[1] + 1) + 0.5)
        (x0, y0), (x1, y1), (x2, y2) = corners
        area = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)
        if abs(area) < 1e-12:
            continue
        w1 = ((xs - x0) * (y2 - y0) - (x2 - x0) * (ys - y0)) / area
        w2 = ((x1 - x0) * (ys - y0) - (xs - x0) * (y1 - y0)) / area
        w0 = 1 - w1 - w2
        inside = (w0 >= 0) & (w1 >= 0) & (w2 >= 0)
        z = w0 * corner_depth[0] + w1 * corner_depth[1] + w2 * corner_depth[2]
        rows, cols = (ys - 0.5).astype(int), (xs - 0.5).astype(int)
        closer = inside & (z < zbuffer[rows, cols])
        zbuffer[rows[closer], cols[closer]] = z[closer]
        corner_colours = shaded_colours[faces[index]]
        pixel_colours = (w0[..., None] * corner_colours[0] + w1[..., None] * corner_colours[1]
                         + w2[..., None] * corner_colours[2])
        image[rows[closer], cols[closer]] = pixel_colours[closer]
    return (np.clip(image, 0, 1) * 255).astype(np.uint8)


def main() -> None:
    body = load_body_model()
    faces = body.faces.numpy()
    skin = np.tile(np.array([0.86, 0.74, 0.64]), (body.canonical_vertices.shape[0], 1))
    poses = {"rest": pose_from_degrees((0, 0, 0), (0, 0, 0)),
             "posed": pose_from_degrees((10, 20, 0), (-15, 30, 12))}
    IMAGE_DIR.mkdir(parents=True, exist_ok=True)
    for name, pose in poses.items():
        vertices = body.pose_vertices(pose[None])[0].numpy()
        views = [rasterise(vertices, faces, skin, yaw) for yaw in (0, 40, 90, 180)]
        Image.fromarray(np.concatenate(views, axis=1)).save(IMAGE_DIR / f"body_{name}.png")
    weights = body.skinning_weights.numpy()
    palette = np.zeros((24, 3)) + 0.55
    palette[15], palette[12], palette[9] = (0.95, 0.75, 0.3), (0.3, 0.75, 0.95), (0.6, 0.85, 0.5)
    palette[[13, 14]], palette[[16, 17]], palette[[3, 6]] = (0.85, 0.5, 0.85), (0.95, 0.45, 0.45), (0.5, 0.6, 0.8)
    coloured = rasterise(body.canonical_vertices.numpy(), faces, weights @ palette, 30)
    Image.fromarray(coloured).save(IMAGE_DIR / "body_weights.png")
    print(f"wrote {sorted(p.name for p in IMAGE_DIR.glob('body_*.png'))} into {IMAGE_DIR}")


if __name__ == "__main__":
    main()
