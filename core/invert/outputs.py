"""What an inversion leaves behind: the latent file, the fine-tuned generator, pictures and a report.

Every file is written atomically, so an interrupted run leaves either the old file or the new one.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

from core.atomic import write_atomic
from core.checkpoint import PRESET_PREFIX, generator_payload, load_checkpoint, save_checkpoint
from core.display import to_display_image
from core.invert.fit import FitState, Inversion
from core.invert.latent_file import InvertedLatent, save_latent
from core.invert.photo import Target
from core.media import write_png

LATENT_NAME, TUNED_NAME, REPORT_NAME = "latent.npz", "finetuned.pt", "report.json"
PICTURE_NAME, STRIP_NAME = "before_after.png", "strip_360.png"
STRIP_YAWS = tuple(range(0, 360, 45))  # the 360-degree strip's views
PICTURE_SIDE = 256  # pictures are scaled up (nearest) to at least this many pixels per view


def _enlarged(pixels: np.ndarray) -> np.ndarray:
    factor = max(1, -(-PICTURE_SIDE // pixels.shape[0]))
    return pixels.repeat(factor, axis=0).repeat(factor, axis=1)


def render_pixels(inversion: Inversion, state: FitState, yaw: float, pitch: float, generator=None) -> np.ndarray:
    """The final image of `state` seen from yaw/pitch, uint8 [R, R, 3]."""
    pose = state.pose if bool(state.pose.any()) else None
    with torch.no_grad():
        return to_display_image(inversion.render(state.ws, yaw, pitch, pose, generator, outputs=("image",)).image,
                                "image")


def save_tuned_generator(path: Path, tuned: torch.nn.Module, checkpoint: str, photo: str) -> Path:
    """The fine-tuned G as a generator checkpoint that keeps the source's metadata (and D_ema, if any)."""
    metadata = {"finetuned_from": str(checkpoint), "finetuned_on": str(photo)}
    if checkpoint.startswith(PRESET_PREFIX) or checkpoint.endswith(".pkl"):
        return save_checkpoint(path, generator_payload(tuned, metadata))
    source = load_checkpoint(Path(checkpoint).expanduser())
    payload = generator_payload(tuned, {**{key: value for key, value in source.get("metadata", {}).items()
                                           if key not in ("created", "progress")}, **metadata})
    if "D_ema" in source:
        payload["D_ema"] = source["D_ema"]
    return save_checkpoint(path, payload)


def write_outputs(out_dir: Path, inversion: Inversion, target: Target, photo: str, checkpoint: str,
                  tuned: torch.nn.Module | None, timings_s: dict[str, float], interrupted: bool) -> dict:
    """Write latent.npz, finetuned.pt (when tuned), before_after.png, strip_360.png and report.json; return the
    report."""
    out_dir.mkdir(parents=True, exist_ok=True)
    best = inversion.best
    model_file = checkpoint
    if tuned is not None:
        model_file = str(save_tuned_generator(out_dir / TUNED_NAME, tuned, checkpoint, photo))
    latent_path = save_latent(out_dir / LATENT_NAME, InvertedLatent(
        best.ws[0].cpu().numpy(), best.yaw_deg, best.pitch_deg, best.pose_deg, model_file))

    views = [target.image, render_pixels(inversion, best, best.yaw_deg, best.pitch_deg)]
    if tuned is not None:
        views.append(render_pixels(inversion, best, best.yaw_deg, best.pitch_deg, tuned))
    write_png(_enlarged(np.concatenate(views, axis=1)), out_dir / PICTURE_NAME)
    strip = [render_pixels(inversion, best, yaw, 0.0, tuned) for yaw in STRIP_YAWS]
    write_png(_enlarged(np.concatenate(strip, axis=1)), out_dir / STRIP_NAME)

    quality = inversion.quality()
    report = {
        "photo": str(photo), "crop": list(target.crop.as_tuple()), "photo_size": list(target.photo_size),
        "mask": target.mask_source, "checkpoint": str(checkpoint), "latent": str(latent_path),
        "finetuned_checkpoint": model_file if tuned is not None else None,
        "yaw_deg": best.yaw_deg, "pitch_deg": best.pitch_deg, "pose_deg": list(best.pose_deg),
        "psnr_db": quality.psnr_db, "mask_iou": quality.mask_iou,
        "perceptual": inversion.perceptual.name, "perceptual_reason": inversion.perceptual.reason,
        "pose_init": "discriminator" if inversion.discriminator is not None and inversion.options.pose_init != "rest"
        else "rest",
        "camera": "given" if inversion.options.camera is not None else "searched",
        "search_best": [list(score) for score in inversion.search_scores[:5]],
        "space": "W+" if inversion.options.w_plus else "W", "steps": inversion.steps_done, "best_step": best.step,
        "loss": best.loss, "interrupted": interrupted, "timings_s": timings_s,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    if tuned is not None:
        tuned_quality = inversion.quality(generator=tuned)
        report.update(finetuned_psnr_db=tuned_quality.psnr_db, finetuned_mask_iou=tuned_quality.mask_iou)
    write_atomic(out_dir / REPORT_NAME, json.dumps(report, indent=1) + "\n")
    return report
