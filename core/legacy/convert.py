"""Released 3DPortraitGAN pickles into this project's TriGridGenerator and checkpoint format.

`load_released_generator(path, device)` opens a .pkl directly (the renderer calls it through
`core.loading.load_generator`); `import_released_checkpoint(path, out)` writes our .pt format plus the SMPL
arrays of the file as an .npz beside it. The generator's shape comes from the preset that matches the file's
`init_kwargs` (img_resolution 512 -> paper-512, 256 -> paper-256), with the file's own values laid over it.
"""
from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from core.checkpoint import CheckpointError, generator_payload, save_checkpoint
from core.config import PRESETS, GeneratorConfig, preset
from core.legacy.body import BodyArraysMissing, body_arrays_from_record, write_body_npz
from core.legacy.companion import PosePredictionSettings, companion_json_path, read_companion_json
from core.legacy.records import InertRecord
from core.legacy.unpickler import read_released_pickle

BODY_PREFIX = "renderer."  # the reference renderer's tensors are the SMPL body, not generator weights


@dataclass
class ReleasedCheckpoint:
    """What a released pickle holds, as inert records (nothing of it was executed)."""

    path: Path  # the .pkl that was read
    generator: InertRecord  # G_ema, the generator the inference scripts use
    training_set_kwargs: dict[str, Any]  # dataset settings at training time (path, resolution, ...)
    pose_prediction: PosePredictionSettings | None  # from the companion .json, when there is one
    entries: list[str]  # top-level keys of the pickle


@dataclass
class ImportReport:
    """Which tensors of the file went where."""

    copied: list[str] = field(default_factory=list)  # file tensors copied into the generator
    missing: list[str] = field(default_factory=list)  # generator tensors the file lacks (left as initialised)
    unexpected: list[str] = field(default_factory=list)  # file tensors with no place in the generator
    mis_shaped: list[str] = field(default_factory=list)  # "name file_shape != our_shape"
    body: list[str] = field(default_factory=list)  # renderer.* tensors, turned into the body model instead

    def summary(self) -> dict[str, int | list[str]]:
        """Counts, and the names of the unexpected and missing tensors, for metadata and the command line."""
        return {
            "copied": len(self.copied), "body": len(self.body),
            "missing": self.missing[:20], "unexpected": self.unexpected[:20], "mis_shaped": self.mis_shaped[:20],
        }


def read_released_checkpoint(path: str | os.PathLike, progress: bool = False) -> ReleasedCheckpoint:
    """Read a released .pkl (and its companion .json) without executing anything from it."""
    path = Path(path)
    data = read_released_pickle(path, progress=progress)
    companion = companion_json_path(path)
    return ReleasedCheckpoint(
        path=path,
        generator=data["G_ema"],
        training_set_kwargs=dict(data.get("training_set_kwargs") or {}),
        pose_prediction=read_companion_json(companion) if companion else None,
        entries=sorted(map(str, data)),
    )


def config_from_released(released: ReleasedCheckpoint) -> tuple[GeneratorConfig, str]:
    """(GeneratorConfig, preset name) for the file's G_ema: the matching preset with the file's values laid over."""
    kwargs = released.generator.init_kwargs
    resolution, z_dim, w_dim = kwargs.get("img_resolution"), kwargs.get("z_dim", 512), kwargs.get("w_dim", 512)
    name = _matching_preset(resolution, z_dim, w_dim)
    if name is None:
        raise CheckpointError(
            released.path,
            f"no preset fits its generator (img_resolution={resolution}, z_dim={z_dim}, w_dim={w_dim}); "
            f"known presets: {', '.join(PRESETS)} (add one to core/config.py)",
        )
    config = preset(name)
    rendering_kwargs = dict(kwargs.get("rendering_kwargs") or {})
    mapping_kwargs = dict(kwargs.get("mapping_kwargs") or {})
    overrides = _present(
        c_dim=kwargs.get("c_dim"), img_channels=kwargs.get("img_channels"),
        channel_base=kwargs.get("channel_base"), channel_max=kwargs.get("channel_max"),
        thickness=kwargs.get("thickness"), mapping_layers=mapping_kwargs.get("num_layers"),
        c_scale=rendering_kwargs.get("c_scale"), triplane_depth=rendering_kwargs.get("triplane_depth"),
        decoder_lr_multiplier=rendering_kwargs.get("decoder_lr_mul"), sr_antialias=rendering_kwargs.get("sr_antialias"),
        sr_noise_mode=rendering_kwargs.get("superresolution_noise_mode"),
        neural_resolution=_neural_resolution(released),
    )
    if "sr_num_fp16_res" in kwargs:
        overrides["sr_fp16"] = int(kwargs["sr_num_fp16_res"]) > 0
    rendering = dataclasses.replace(config.rendering, **_present(
        ray_start=_number(rendering_kwargs.get("ray_start")), ray_end=_number(rendering_kwargs.get("ray_end")),
        depth_resolution=rendering_kwargs.get("depth_resolution"),
        depth_resolution_importance=rendering_kwargs.get("depth_resolution_importance"),
        box_warp=_number(rendering_kwargs.get("box_warp")),
        decoder_activation=rendering_kwargs.get("decoder_activation"),
    ), importance_sampler="reference")  # released models were trained with the authors' sampler
    # ... and their pose branch with the authors' mirror decision (core.camera.is_left).
    return dataclasses.replace(config, rendering=rendering, pose_mirror_test="reference", **overrides), name


def copy_released_state(
    released: ReleasedCheckpoint, generator: torch.nn.Module, require_parameters: bool = True
) -> ImportReport:
    """Copy every fitting tensor of the file's G_ema into `generator` and report the rest.

    Mis-shaped tensors, and (with `require_parameters`) generator parameters that the file lacks, raise a
    CheckpointError naming the file; missing buffers keep their initial values and are only reported.
    """
    file_state = released.generator.flat_state()
    ours = generator.state_dict()
    parameter_names = {name for name, _ in generator.named_parameters()}
    report = ImportReport()
    for name, tensor in file_state.items():
        if name in ours:
            if tuple(tensor.shape) != tuple(ours[name].shape):
                report.mis_shaped.append(f"{name} {tuple(tensor.shape)} != {tuple(ours[name].shape)}")
            else:
                report.copied.append(name)
        elif name.startswith(BODY_PREFIX):
            report.body.append(name)
        else:
            report.unexpected.append(name)
    report.missing = sorted(set(ours) - set(file_state))
    missing_parameters = [name for name in report.missing if name in parameter_names]
    problems = report.mis_shaped + (missing_parameters if require_parameters else [])
    if problems:
        raise CheckpointError(
            released.path,
            f"its G_ema does not fit the generator built from its init_kwargs: {', '.join(problems[:5])}"
            f"{' ...' if len(problems) > 5 else ''} ({len(problems)} tensors)",
        )
    with torch.no_grad():
        for name in report.copied:
            ours[name].copy_(file_state[name])
    return report


def build_released_generator(released: ReleasedCheckpoint, device: torch.device | str = "cpu"):
    """(TriGridGenerator holding the file's G_ema in eval mode on `device`, metadata dict)."""
    from core.generator import TriGridGenerator  # late: the generator is heavy and the reader does not need it

    config, preset_name = config_from_released(released)
    generator = TriGridGenerator(config)
    report = copy_released_state(released, generator)
    generator.eval().requires_grad_(False)
    return generator.to(device), _metadata(released, preset_name, report)


def load_released_generator(path: str | os.PathLike, device: torch.device | str = "cpu"):
    """Open a released 3DPortraitGAN .pkl directly: (TriGridGenerator, metadata), as core.loading.load_generator.

    metadata["body"] is the file's own SMPL body as a core.body.BodyModel on `device` (None if it has none);
    the renderer should pose with it instead of the stand-in.
    """
    released = read_released_checkpoint(path)
    generator, metadata = build_released_generator(released, device)
    metadata["body"] = released_body_model(released, device)
    return generator, metadata


def released_body_model(released: ReleasedCheckpoint, device: torch.device | str = "cpu"):
    """The SMPL body stored in the file's generator as a core.body.BodyModel, or None when there is none."""
    from core.body import BodyModel  # lazy: the body model (smplx) is heavy and the reader does not need it

    try:
        arrays = body_arrays_from_record(released.generator)
    except BodyArraysMissing:
        return None
    return BodyModel(arrays, source=released.path, is_standin=False, device=device)


def import_released_checkpoint(
    path: str | os.PathLike, out: str | os.PathLike, body_out: str | os.PathLike | None = None, progress: bool = True
) -> Path:
    """Convert a released .pkl to our .pt format; the SMPL arrays go to `body_out` (default `<out>.smpl.npz`)."""
    released = read_released_checkpoint(path, progress=progress)
    with tqdm(total=3, desc="converting", disable=not progress) as bar:
        generator, metadata = build_released_generator(released)
        bar.update()
        out = Path(out)
        try:
            arrays = body_arrays_from_record(released.generator)
        except BodyArraysMissing:
            arrays = None
        if arrays is not None:
            body_path = Path(body_out) if body_out else out.with_name(out.stem + ".smpl.npz")
            metadata["body_model_path"] = str(write_body_npz(arrays, body_path))
        bar.update()
        metadata["command"] = f"python -m core.checkpoint import {path} --out {out}"
        saved = save_checkpoint(out, generator_payload(generator, metadata))
        bar.update()
    return saved


def _metadata(released: ReleasedCheckpoint, preset_name: str, report: ImportReport) -> dict[str, Any]:
    snapshot = re.search(r"network-snapshot-(\d+)", released.path.name)
    dataset = released.training_set_kwargs.get("path")
    return {
        "preset": preset_name,
        "source": str(released.path),
        "kimg": int(snapshot.group(1)) if snapshot else None,
        "dataset": Path(str(dataset)).name if dataset else None,
        "neural_resolution": _neural_resolution(released),
        "pose_prediction": released.pose_prediction.to_dict() if released.pose_prediction else None,
        "import_report": report.summary(),
    }


def _neural_resolution(released: ReleasedCheckpoint) -> int | None:
    """R at save time: G_ema's attribute, else the companion .json's value."""
    value = released.generator.attribute("neural_rendering_resolution")
    if isinstance(value, int) and value > 0:
        return value
    return released.pose_prediction.neural_rendering_resolution if released.pose_prediction else None


def _matching_preset(resolution: Any, z_dim: Any, w_dim: Any) -> str | None:
    """The first preset (paper-512, paper-256, small, tiny) with the file's image size and latent sizes."""
    for name in PRESETS:
        candidate = preset(name)
        if (candidate.img_resolution, candidate.z_dim, candidate.w_dim) == (resolution, z_dim, w_dim):
            return name
    return None


def _present(**values: Any) -> dict[str, Any]:
    return {name: value for name, value in values.items() if value is not None}


def _number(value: Any) -> float | None:
    """Numbers pass; EG3D's 'auto' ray bounds (unused by 3DPortraitGAN) fall back to the preset."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
