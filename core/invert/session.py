"""One inversion from files to files: open the model, its D and body, the photo; step; write the results.

The command line (`python -m core.invert`) and the GUI's invert job (renderer/invert_jobs.py, which passes the
render worker's cached model instead of loading a second copy) both go through `InversionSession`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import torch

from core.body import load_body_model
from core.checkpoint import PRESET_PREFIX, CheckpointError, load_discriminator
from core.device import resolve_device
from core.shipped import DEFAULT_CHECKPOINT
from core.invert.fit import Inversion, InvertOptions, inversion_steps
from core.invert.outputs import write_outputs
from core.invert.photo import Crop, Target, load_target
from core.loading import open_generator


class InvertSetupError(ValueError):
    """The model or options cannot invert (a bad checkpoint, D asked of a file without one)."""


@dataclass
class InversionSession:
    """A photo being fitted into a model, with what the report needs to know about where things came from."""

    inversion: Inversion
    target: Target
    photo: str
    checkpoint: str
    timings_s: dict[str, float] = field(default_factory=dict)

    def notes(self) -> list[str]:
        """Lines saying what the fit will use where the user might expect something else."""
        lines = []
        inversion = self.inversion
        if inversion.perceptual.name != "lpips":
            lines.append(f"perceptual term: {inversion.perceptual.name} ({inversion.perceptual.reason})")
        if inversion.discriminator is None:
            lines.append("the checkpoint keeps no D_ema: the body pose starts at rest (no D pose head)")
        if self.target.mask_source != "file":
            lines.append({"estimated": "mask: estimated from the photo's background colours (--mask to give one)",
                          "none": "mask: none (the background colours did not separate a person); every pixel counts"}
                         [self.target.mask_source])
        return lines

    def steps(self) -> Iterator[tuple[str, float]]:
        """(phase, fraction) after each unit of work; timings of each phase are recorded."""
        phase, began = None, time.perf_counter()
        for phase_now, fraction in inversion_steps(self.inversion):
            if phase_now != phase:
                if phase is not None:
                    self.timings_s[phase] = time.perf_counter() - began
                phase, began = phase_now, time.perf_counter()
            self.timings_s[phase] = time.perf_counter() - began
            yield phase_now, fraction

    def write(self, out_dir: Path, interrupted: bool = False, elapsed_s: float | None = None) -> dict:
        """Write the latent, pictures, report (and fine-tuned model) to `out_dir`; returns the report."""
        timings = dict(self.timings_s)
        if elapsed_s is not None:
            timings["total"] = elapsed_s
        return write_outputs(out_dir, self.inversion, self.target, self.photo, self.checkpoint,
                             self.inversion.tuned, timings, interrupted)


def options_from(camera=None, steps=200, finetune_steps=0, w_plus=False, fit_pose=True, fit_camera=True,
                 pose_init="auto", perceptual="auto") -> InvertOptions:
    return InvertOptions(steps=int(steps), finetune_steps=int(finetune_steps), w_plus=bool(w_plus),
                         camera=None if camera is None else (float(camera[0]), float(camera[1])),
                         fit_pose=fit_pose, fit_camera=fit_camera, pose_init=pose_init, perceptual=perceptual)


def session_for_model(generator: torch.nn.Module, body, discriminator, checkpoint: str, photo: str,
                      mask: str | None, crop: Crop | None, options: InvertOptions) -> InversionSession:
    """A session on a model that is open already (the render worker's)."""
    target = load_target(photo, generator.config.img_resolution, mask=mask, crop=crop)
    if options.pose_init == "discriminator" and discriminator is None:
        raise InvertSetupError(f"{checkpoint}: keeps no D_ema, so --pose-init discriminator cannot read the pose; "
                               "use --pose-init rest (or export the snapshot with --with-discriminator)")
    try:
        inversion = Inversion(generator, body, target, options, discriminator)
    except ValueError as error:  # a perceptual term the machine or checkpoint lacks
        raise InvertSetupError(str(error)) from None
    return InversionSession(inversion, target, str(photo), str(checkpoint))


def open_discriminator(checkpoint: str, device: torch.device):
    """The checkpoint's D_ema or None (presets and released .pkl files are used without one)."""
    if checkpoint.startswith(PRESET_PREFIX) or checkpoint.endswith(".pkl"):
        return None
    return load_discriminator(Path(checkpoint).expanduser(), device)


def open_inversion(photo: str, checkpoint: str | None, device: str = "auto", mask: str | None = None,
                   crop: Crop | None = None, body_model: str | None = None, **option_values) -> InversionSession:
    """Open the model (default: the shipped one), its D and body, and the photo; InvertInputError for a bad
    photo, mask or crop, InvertSetupError for a bad model."""
    options = options_from(**option_values)
    load_target(photo, 8, mask=mask, crop=crop)  # the photo's mistakes first, before a model is loaded
    checkpoint = str(checkpoint or DEFAULT_CHECKPOINT)
    torch_device = resolve_device(device)
    began = time.perf_counter()
    try:
        generator, metadata, _ = open_generator(checkpoint, torch_device)
        discriminator = open_discriminator(checkpoint, torch_device)
    except (CheckpointError, FileNotFoundError, ValueError) as error:
        raise InvertSetupError(f"--checkpoint: {error}") from None
    body = load_body_model(body_model or metadata.get("body_path"), device=torch_device)
    session = session_for_model(generator, body, discriminator, checkpoint, photo, mask, crop, options)
    session.timings_s["load"] = time.perf_counter() - began
    return session
