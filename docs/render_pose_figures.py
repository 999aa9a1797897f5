"""README pictures of pose self-learning: D's reading of held-out real images against the truth, and one
generated person rendered at the cameras and poses D read from real images.

    python docs/render_pose_figures.py --model checkpoints/default.pt --data SYNTH_DATASET

writes docs/images/default_pose_scatter.png and docs/images/default_pose_row.png. The model file must keep
D_ema (`python -m core.checkpoint export SNAPSHOT --out FILE --with-discriminator`).
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.body import load_body_model  # noqa: E402 - after the path set-up above
from core.body.warp import make_warp  # noqa: E402
from core.checkpoint import load_discriminator  # noqa: E402
from core.loading import load_generator  # noqa: E402
from core.train.config import TrainingConfig  # noqa: E402
from core.train.data import open_training_data  # noqa: E402
from core.train.distributed import DistributedContext  # noqa: E402
from core.train.losses import real_discriminator_input, run_discriminator  # noqa: E402
from core.train.pose_figures import correlation  # noqa: E402

SCATTER_SIZE, MARGIN, LIMIT_DEG = 360, 40, 60.0


def _to_pixels(image: torch.Tensor) -> np.ndarray:
    return ((image.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).cpu().numpy()


def scatter(true_deg: np.ndarray, read_deg: np.ndarray, title: str) -> Image.Image:
    """Predicted against true head yaw (neck + head turn), with the diagonal and the zero-pose answer."""
    canvas = Image.new("RGB", (SCATTER_SIZE + 2 * MARGIN, SCATTER_SIZE + 2 * MARGIN), "white")
    draw = ImageDraw.Draw(canvas)

    def at(x: float, y: float) -> tuple[float, float]:
        scale = SCATTER_SIZE / (2 * LIMIT_DEG)
        return MARGIN + (x + LIMIT_DEG) * scale, MARGIN + (LIMIT_DEG - y) * scale

    draw.rectangle([at(-LIMIT_DEG, LIMIT_DEG), at(LIMIT_DEG, -LIMIT_DEG)], outline="black")
    for tick in range(-60, 61, 30):
        draw.line([at(tick, -LIMIT_DEG), at(tick, -LIMIT_DEG + 2)], fill="black")
        draw.text((at(tick, -LIMIT_DEG)[0] - 8, at(tick, -LIMIT_DEG)[1] + 4), f"{tick}", fill="black")
        draw.text((MARGIN - 28, at(-LIMIT_DEG, tick)[1] - 5), f"{tick}", fill="black")
    draw.line([at(-LIMIT_DEG, -LIMIT_DEG), at(LIMIT_DEG, LIMIT_DEG)], fill=(150, 150, 150))
    draw.line([at(-LIMIT_DEG, 0), at(LIMIT_DEG, 0)], fill=(230, 150, 150))  # what the zero-pose baseline answers
    for x, y in zip(true_deg, read_deg):
        px, py = at(float(np.clip(x, -LIMIT_DEG, LIMIT_DEG)), float(np.clip(y, -LIMIT_DEG, LIMIT_DEG)))
        draw.ellipse([px - 2, py - 2, px + 2, py + 2], fill=(30, 90, 200))
    draw.text((MARGIN, 8), title, fill="black")
    draw.text((MARGIN + SCATTER_SIZE // 2 - 70, SCATTER_SIZE + MARGIN + 18), "true head yaw (deg)", fill="black")
    draw.text((4, MARGIN - 24), "D's reading", fill="black")
    return canvas


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=ROOT / "checkpoints" / "default.pt")
    parser.add_argument("--data", type=Path, required=True, help="a synthetic dataset (exact pose labels)")
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--seed", type=int, default=1, help="the generated person of the row")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images")
    args = parser.parse_args()
    device = torch.device("cpu")
    generator, metadata = load_generator(args.model, device)
    discriminator = load_discriminator(args.model, device)
    if discriminator is None:
        print(f"{args.model}: keeps no D_ema; export it with --with-discriminator", file=sys.stderr)
        return 1
    context = DistributedContext(rank=0, world_size=1, device=device)
    data = open_training_data(args.data, None, generator.config.img_resolution, context,
                              TrainingConfig(eval_images=args.images, batch=1))
    real = data.held_out_batch(args.images, device)
    neural = int(metadata.get("neural_resolution", generator.config.neural_resolution))
    with torch.no_grad():
        read = run_discriminator(discriminator, real_discriminator_input(real.image, real.mask, real.camera, neural,
                                                                         0.0), 0.0).pose
    true_yaw = (real.pose[:, 1] + real.pose[:, 4]).rad2deg().numpy()
    read_yaw = (read[:, 1] + read[:, 4]).rad2deg().numpy()
    r = correlation(torch.from_numpy(read_yaw), torch.from_numpy(true_yaw))
    error = float(np.abs(read_yaw - true_yaw).mean())
    zero = float(np.abs(true_yaw).mean())
    title = f"{len(true_yaw)} held-out images: r = {r:.2f}, error {error:.1f} deg (zero pose: {zero:.1f})"
    args.out.mkdir(parents=True, exist_ok=True)
    scatter(true_yaw, read_yaw, title).save(args.out / "default_pose_scatter.png")

    # The row: the six held-out images with the largest turns, and one person at their cameras and read poses.
    order = np.argsort(-np.abs(true_yaw))[:6]
    order = order[np.argsort(true_yaw[order])]
    body = load_body_model(metadata.get("body_path"), device=device)
    z = torch.from_numpy(np.random.RandomState(args.seed).randn(1, generator.config.z_dim)).float()
    tiles = []
    with torch.no_grad():
        for index in order.tolist():
            camera, pose = real.camera[index:index + 1], read[index:index + 1]
            ws = generator.mapping(z, camera, pose, truncation_psi=0.7)
            planes = generator.synthesize_trigrid(ws)
            fake = generator.render(ws, planes, camera, point_warp=make_warp(body, pose[0]), outputs=("image",))
            tiles.append(np.concatenate([_to_pixels(real.image[index]), _to_pixels(fake.image[0])], axis=0))
    row = Image.fromarray(np.concatenate(tiles, axis=1))
    row = row.resize((row.width * 2, row.height * 2), Image.NEAREST)
    row.save(args.out / "default_pose_row.png")
    print(f"{title}\nwrote {args.out / 'default_pose_scatter.png'} and {args.out / 'default_pose_row.png'}"
          f" (turns read: {', '.join(f'{math.floor(v + 0.5)}' for v in read_yaw[order])})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
