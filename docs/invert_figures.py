"""The held-out inversion figures of docs/invert.md: camera found, pose error beside the rest pose, PSNR, IoU.

  python docs/invert_figures.py --checkpoint checkpoints/default.pt --data SYNTH_DATASET [--images 10] [--every 7]
                                [--steps 60] [--discriminator FILE | none] [--no-fit-pose]

Inverts every `--every`-th image of the dataset's eval split (its labels are exact) with the camera searched
and prints one line per image and the summary: yaw within 20 degrees, the mean absolute pose error over the six
angles beside the rest pose's (the trivial baseline), PSNR and mask IoU.
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.body import load_body_model  # noqa: E402 - after the path insert
from core.camera import angle_between_deg, camera_yaw_pitch_deg  # noqa: E402
from core.checkpoint import load_discriminator  # noqa: E402
from core.data.reader import PortraitDataset  # noqa: E402
from core.invert.fit import Inversion, InvertOptions  # noqa: E402
from core.invert.photo import target_from_sample  # noqa: E402
from core.loading import load_generator  # noqa: E402

YAW_TOLERANCE_DEG = 20.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--data", required=True, help="a synthetic dataset (python -m core.data synth)")
    parser.add_argument("--images", type=int, default=10)
    parser.add_argument("--every", type=int, default=7)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--discriminator", default=None, help="D_ema from another file, or none (default: the "
                        "checkpoint's own, if any)")
    parser.add_argument("--no-fit-pose", action="store_true")
    args = parser.parse_args()
    generator, metadata = load_generator(args.checkpoint)
    discriminator = None if args.discriminator == "none" else load_discriminator(args.discriminator or args.checkpoint)
    body = load_body_model(metadata.get("body_path"))
    dataset = PortraitDataset(args.data, split="eval")
    rows = []
    for number in range(args.images):
        item = dataset[number * args.every]
        yaw, _ = camera_yaw_pitch_deg(torch.from_numpy(item["camera"])[None])
        target = target_from_sample(item)
        options = InvertOptions(steps=args.steps, fit_pose=not args.no_fit_pose)
        inversion = Inversion(generator, body, target, options, discriminator)
        inversion.search_camera()
        for _ in range(args.steps):
            inversion.step()
        best, quality = inversion.best, inversion.quality()
        label_pose = np.degrees(item["pose"])
        row = {"yaw_error": angle_between_deg(best.yaw_deg, float(yaw)),
               "pose_error": float(np.abs(np.array(best.pose_deg) - label_pose).mean()),
               "rest_error": float(np.abs(label_pose).mean()), "psnr": quality.psnr_db, "iou": quality.mask_iou}
        rows.append(row)
        print(f"{item['name']}: label yaw {float(yaw):7.1f} found {best.yaw_deg:7.1f} | pose error "
              f"{row['pose_error']:.1f} (rest {row['rest_error']:.1f}) | PSNR {row['psnr']:.1f} dB, "
              f"IoU {row['iou']:.2f}", flush=True)
    found = sum(row["yaw_error"] <= YAW_TOLERANCE_DEG for row in rows)
    psnr = [row["psnr"] for row in rows]
    print(f"yaw within {YAW_TOLERANCE_DEG:g} deg: {found}/{len(rows)} | pose error "
          f"{statistics.mean(row['pose_error'] for row in rows):.2f} deg (rest pose "
          f"{statistics.mean(row['rest_error'] for row in rows):.2f}) | PSNR {min(psnr):.1f}-{max(psnr):.1f} dB "
          f"(mean {statistics.mean(psnr):.1f}) | IoU {statistics.mean(row['iou'] for row in rows):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
