"""Image grids of a run: reals once, and at image snapshots G_ema's posed and canonical samples, depth and mask.

Rows are fixed latents (the same for the whole run), columns a 360-degree sweep of the camera. As in the
reference, the mapping is conditioned on the frontal camera with zero pose, and the posed row renders with
the pose predicted by G's pose branch for the column's camera. Files are written atomically.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import torch

from core.camera import orbit_camera
from core.data.storage import atomic_write_bytes, encode_png
from core.train.config import TrainingConfig
from core.train.schedules import ScheduleValues

GRID_SEED = 123  # latents of the grid rows, fixed for the whole run


def to_uint8(images: torch.Tensor, low: float = -1.0, high: float = 1.0) -> np.ndarray:
    """[B, C, H, W] with values in [low, high] -> uint8 [B, H, W, C]."""
    scaled = (images.detach().float().cpu() - low) / (high - low)
    return (scaled.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def tile(images: np.ndarray, columns: int) -> np.ndarray:
    """uint8 [B, H, W, C] -> one [rows * H, columns * W, C] picture (missing cells black)."""
    count, height, width, channels = images.shape
    rows = -(-count // columns)
    canvas = np.zeros((rows * height, columns * width, channels), dtype=np.uint8)
    for index in range(count):
        row, column = divmod(index, columns)
        canvas[row * height:(row + 1) * height, column * width:(column + 1) * width] = images[index]
    return canvas


def save_png(path: Path, pixels: np.ndarray) -> None:
    """Write uint8 [H, W, C] (C = 1 or 3) as a PNG, atomically."""
    atomic_write_bytes(path, encode_png(pixels), durable=False)
    path.chmod(0o644)  # the temporary file was private; grids are for everyone who watches the run


def save_real_grid(path: Path, data, grid_size: int) -> None:
    """reals.png and reals_mask.png: the first grid_size^2 training images and their masks."""
    count = min(grid_size * grid_size, data.size)
    items = [data.item(index) for index in range(count)]
    save_png(path, tile(np.stack([item["image"].transpose(1, 2, 0) for item in items]), grid_size))
    save_png(path.with_name("reals_mask.png"), tile(np.stack([item["mask"].transpose(1, 2, 0) for item in items]),
                                                    grid_size))


@torch.no_grad()
def render_grid(G_ema, rows: int, columns: int, neural_resolution: int, device: torch.device,
                warp_factory: Callable | None) -> dict[str, np.ndarray]:
    """Posed and canonical images, depth and mask of `rows` latents x `columns` yaw angles, as tiled pictures."""
    generator = torch.Generator().manual_seed(GRID_SEED)
    z = torch.randn(rows, G_ema.config.z_dim, generator=generator).to(device).repeat_interleave(columns, dim=0)
    yaw = torch.linspace(0.0, 360.0, columns + 1)[:-1].repeat(rows)
    cameras = orbit_camera(yaw, torch.zeros_like(yaw), device=device)
    frontal = orbit_camera(torch.zeros(len(yaw)), torch.zeros(len(yaw)), device=device)
    ws = G_ema.mapping(z, frontal, None)
    planes = G_ema.synthesize_trigrid(ws, noise_mode="const")
    pose = G_ema.predict_pose(z, cameras)
    results = {}
    for name, warp in (("posed", warp_factory(pose) if warp_factory else None), ("canonical", None)):
        output = G_ema.render(ws, planes, cameras, neural_resolution=neural_resolution, point_warp=warp,
                              noise_mode="const", outputs=("image", "image_raw", "image_mask"))
        results[name] = tile(to_uint8(output.image), columns)
        if name == "posed":
            depth = output.image_depth
            near, far = G_ema.config.rendering.ray_start, G_ema.config.rendering.ray_end
            results["depth"] = tile(np.repeat(to_uint8(-depth, -far, -near), 3, axis=3), columns)
            results["mask"] = tile(np.repeat(to_uint8(output.image_mask, 0, 1), 3, axis=3), columns)
            results["raw"] = tile(to_uint8(output.image_raw), columns)
    return results


def save_fake_grids(run_dir: Path, G_ema, data, schedule: ScheduleValues, config: TrainingConfig, cur_nimg: int,
                    device: torch.device, warp_factory: Callable | None) -> list[Path]:
    """fakes<kimg:06d>_{posed,canonical,raw,depth,mask}.png in the run folder; returns their paths."""
    columns = max(config.grid_size, 2)
    pictures = render_grid(G_ema, max(config.grid_size // 2, 1), columns, schedule.neural_resolution, device,
                           warp_factory)
    paths = []
    for name, pixels in pictures.items():
        path = run_dir / f"fakes{cur_nimg // 1000:06d}_{name}.png"
        save_png(path, pixels)
        paths.append(path)
    return paths
