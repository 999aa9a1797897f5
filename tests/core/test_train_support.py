"""Helpers shared by the training tests: a minimal dataset in the reader's format, written in a few ms.

Each image is a disc on a plain background whose colour depends on the head pose, with a matching mask,
so the dataset is valid for core.data's checker and small enough for CPU tests.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from core.camera import orbit_camera


def write_dataset(root: Path, count: int = 8, resolution: int = 64, seed: int = 0) -> Path:
    """A synth-style root with images/ (dataset.json + PNGs) and masks/; returns root."""
    rng = np.random.default_rng(seed)
    yaw = torch.tensor(rng.uniform(-180, 180, count), dtype=torch.float32)
    pitch = torch.tensor(rng.uniform(-20, 20, count), dtype=torch.float32)
    cameras = orbit_camera(yaw, pitch).numpy()
    poses = rng.uniform(-0.3, 0.3, (count, 6)).astype(np.float32)
    grid_y, grid_x = np.mgrid[0:resolution, 0:resolution] / resolution - 0.5
    labels = []
    for index in range(count):
        name = f"{index // 1000:010d}/{index:010d}.png"
        centre_x = 0.15 * np.sin(np.radians(float(yaw[index])))
        disc = (grid_x - centre_x) ** 2 + grid_y**2 < 0.3**2
        colour = (128 + 120 * np.tanh(poses[index, 3:6] * 3)).astype(np.uint8)
        image = np.full((resolution, resolution, 3), 40, dtype=np.uint8)
        image[disc] = colour
        for folder, pixels in (("images", image), ("masks", (disc * 255).astype(np.uint8))):
            path = root / folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(pixels).save(path)
        labels.append([name, [float(v) for v in cameras[index]] + [float(v) for v in poses[index]]])
    (root / "images" / "dataset.json").write_text(json.dumps({"labels": labels}))
    return root


def training_command(data: Path, outdir: Path, kimg: float, *extra: str) -> list[str]:
    """Arguments of a tiny CPU run: batch 2, one step (two images) per tick, small grids and evaluations."""
    return ["--data", str(data), "--preset", "tiny", "--kimg", str(kimg), "--outdir", str(outdir), "--batch", "2",
            "--device", "cpu", "--tick-kimg", "0.002", "--grid-size", "2", "--eval-images", "4", "--no-progress",
            *extra]
