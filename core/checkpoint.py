"""The one checkpoint format of the project: generator snapshots and training snapshots.

A checkpoint is a `torch.save` of a plain dict (see docs/INTERFACES.md "Checkpoints"):
`format`, `kind`, `config` (GeneratorConfig.to_dict()), `G_ema` (state dict), optionally `G`, `D`, `D_ema`,
`optimizers`, `rng`, and `metadata` (preset, kimg, dataset, command, created). Files are read with
`torch.load(weights_only=True)`, so loading never executes code, and written atomically (temporary file,
fsync, rename), so a crash never leaves a half-written snapshot under the final name.
"""
from __future__ import annotations

import os
import pickle
import time
import zipfile
from pathlib import Path
from typing import Any

import torch

from core.atomic import atomic_output
from core.cli import first_line
from core.config import GeneratorConfig, _from_dict
from core.networks.discriminator import DiscriminatorConfig, PoseAwareDiscriminator

FORMAT = "portrait-gan/1"
KINDS = ("generator", "training")
PRESET_PREFIX = "preset:"  # "preset:<name>" names a randomly initialised model instead of a file
PRESET_INIT_SEED = 0  # every tool builds the same untrained model for the same preset


class CheckpointError(Exception):
    """A checkpoint could not be read or does not fit; the message names the file and the fix."""

    def __init__(self, path: str | os.PathLike, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


def save_checkpoint(path: str | os.PathLike, payload: dict[str, Any]) -> Path:
    """Write `payload` to `path` atomically; returns the final path."""
    path = Path(path)
    _validate_payload(path, payload)
    with atomic_output(path) as stream:
        torch.save(payload, stream)
    return path


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read and validate a checkpoint on the CPU without executing any code from the file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(path, "no such file; give the path of a .pt checkpoint (see README, 'Checkpoints')")
    if path.suffix == ".pkl":
        raise CheckpointError(
            path,
            "this is a Python pickle (a released 3DPortraitGAN file?); convert it without running its code with "
            f"`python -m core.checkpoint import {path} --out {path.with_suffix('.pt')}`",
        )
    if path.stat().st_size == 0:
        raise CheckpointError(path, "the file is empty (an interrupted copy or save?)")
    if not zipfile.is_zipfile(path):
        raise CheckpointError(path, "the file is truncated or corrupt (not a complete torch.save archive)")
    _check_records(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise CheckpointError(
            path, f"refused: the file holds objects other than tensors and plain containers ({_refused_global(error)})"
        ) from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as error:
        raise CheckpointError(path, f"the file is truncated or corrupt ({first_line(error)})") from None
    _validate_payload(path, payload)
    return payload


def _check_records(path: Path) -> None:
    """Every record's CRC-32 against its bytes (torch.load never checks): damaged weights must not load."""
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise CheckpointError(path, f"the file is truncated or corrupt ({first_line(error)})") from None
    if damaged is not None:
        raise CheckpointError(path, f"record {damaged} is damaged (its checksum does not match its bytes): the file "
                                    "was corrupted on disk or in a copy; use another copy or an earlier snapshot")


def generator_config_of(path: str | os.PathLike, payload: dict[str, Any]) -> GeneratorConfig:
    """The GeneratorConfig stored in a loaded payload, with a clear error when it does not parse."""
    try:
        return GeneratorConfig.from_dict(payload["config"])
    except (TypeError, ValueError) as error:
        raise CheckpointError(path, f"its config is not one this version of the code can use ({error})") from None


def checkpoint_body_path(spec: str | os.PathLike | None) -> str | None:
    """The body file a checkpoint was trained with (its metadata's `body_path`; None = the stand-in)."""
    spec = str(spec) if spec is not None else None
    if spec is None or spec.startswith(PRESET_PREFIX) or spec.endswith(".pkl"):
        return None
    return load_checkpoint(Path(spec).expanduser()).get("metadata", {}).get("body_path")


def load_discriminator(path: str | os.PathLike, device: torch.device | str = "cpu"):
    """D_ema of a checkpoint as a PoseAwareDiscriminator in eval mode, or None when the file keeps none
    (a generator-only export; `export --with-discriminator` keeps it)."""
    path = Path(path)
    if path.suffix == ".pkl":
        return None
    payload = load_checkpoint(path)
    metadata = payload.get("metadata", {})
    if "D_ema" not in payload or "discriminator_config" not in metadata:
        return None
    try:
        discriminator = PoseAwareDiscriminator(_from_dict(DiscriminatorConfig, metadata["discriminator_config"]))
    except (TypeError, ValueError) as error:
        raise CheckpointError(path, f"its discriminator config does not match this version of the code ({error})")
    load_state_into(path, discriminator, payload["D_ema"], "D_ema")
    return discriminator.eval().requires_grad_(False).to(device)


def load_state_into(path: str | os.PathLike, module: torch.nn.Module, state: dict[str, torch.Tensor],
                    what: str) -> None:
    """Copy `state` into `module`, raising a CheckpointError that lists missing, unexpected and mis-shaped tensors."""
    expected = module.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    mis_shaped = [
        f"{name} {tuple(state[name].shape)} != {tuple(tensor.shape)}"
        for name, tensor in expected.items()
        if name in state and state[name].shape != tensor.shape
    ]
    if missing or unexpected or mis_shaped:
        parts = [
            f"{label}: {', '.join(items[:5])}{' ...' if len(items) > 5 else ''} ({len(items)})"
            for label, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", mis_shaped))
            if items
        ]
        raise CheckpointError(path, f"{what} does not fit the model built from its config; " + "; ".join(parts))
    # Weights that are NaN or infinite render black and train nothing: refuse them with their names.
    broken = [name for name, tensor in state.items() if tensor.is_floating_point() and not torch.isfinite(tensor).all()]
    if broken:
        raise CheckpointError(path, f"{what} holds NaN or infinite values in {', '.join(broken[:3])}"
                                    f"{' ...' if len(broken) > 3 else ''} ({len(broken)} tensors); the run diverged or "
                                    f"the file is damaged: use an earlier snapshot")
    module.load_state_dict(state)


def generator_payload(generator: torch.nn.Module, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    """A `kind="generator"` payload holding `generator` as G_ema (tensors copied to the CPU)."""
    return {
        "format": FORMAT,
        "kind": "generator",
        "config": generator.config.to_dict(),
        "G_ema": {name: tensor.detach().cpu().clone() for name, tensor in generator.state_dict().items()},
        "metadata": {"created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **(metadata or {})},
    }


def export_generator(snapshot: str | os.PathLike, out: str | os.PathLike, note: str | None = None,
                     with_discriminator: bool = False) -> Path:
    """Write the G_ema of a training snapshot (or any checkpoint) as a small `kind="generator"` file.

    with_discriminator: keep D_ema too (its config stays in the metadata), so that poses of images can be read
    with the file (`python -m core.train eval FILE`, the viewer's predicted pose).

    The metadata keeps what describes the model (preset, kimg, dataset, training command and options, the
    snapshot's evaluation figures if any) and drops the optimiser and random states with the rest of the run.
    """
    snapshot = Path(snapshot)
    payload = load_checkpoint(snapshot)
    generator_config_of(snapshot, payload)  # fail here, not in the user's viewer, if the config does not parse
    metadata = {key: value for key, value in payload.get("metadata", {}).items() if key not in ("progress", "created")}
    metadata["exported_from"] = snapshot.name
    if note:
        metadata["note"] = note
    exported = {"format": FORMAT, "kind": "generator", "config": payload["config"], "G_ema": payload["G_ema"],
                "metadata": {"created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **metadata}}
    if with_discriminator:
        if "D_ema" not in payload or "discriminator_config" not in metadata:
            raise CheckpointError(snapshot, "holds no D_ema to keep; export a training snapshot (snapshot-*.pt)")
        exported["D_ema"] = payload["D_ema"]
    return save_checkpoint(out, exported)


def _validate_payload(path: Path, payload: Any) -> None:
    if not isinstance(payload, dict):
        raise CheckpointError(path, f"not a checkpoint of this project (a {type(payload).__name__}, not a dict)")
    if payload.get("format") != FORMAT:
        raise CheckpointError(path, f"not a checkpoint of this project (format {payload.get('format')!r}, "
                                    f"want {FORMAT!r})")
    if payload.get("kind") not in KINDS:
        raise CheckpointError(path, f"unknown checkpoint kind {payload.get('kind')!r}; expected one of {KINDS}")
    for key in ("config", "G_ema"):
        if not isinstance(payload.get(key), dict):
            raise CheckpointError(path, f"the checkpoint has no {key!r} entry")


def _refused_global(error: BaseException) -> str:
    """The line of torch's weights_only message that names the offending global."""
    lines = [line.strip() for line in str(error).splitlines() if "global" in line.lower() and "GLOBAL" in line]
    return lines[0][:200] if lines else first_line(error)


def __getattr__(name: str):
    """`core.checkpoint.load_generator` / `open_generator` of older scripts: they live in core.loading now
    (imported only when asked for, so this module never imports the released-checkpoint importer)."""
    if name in ("load_generator", "open_generator"):
        import core.loading  # lazy: core.loading imports this module (an import circle at the top)

        return getattr(core.loading, name)
    raise AttributeError(f"module 'core.checkpoint' has no attribute {name!r}")


if __name__ == "__main__":
    # `python -m core.checkpoint info|import|export`: the command line lives in core.loading, which may import
    # the released-checkpoint importer (core.legacy) without this file-format module importing it back.
    from core.loading import main

    raise SystemExit(main())
