"""Training snapshots: `snapshot-<kimg:06d>.pt` in the core.checkpoint format (kind "training").

A snapshot holds G, G_ema, D, D_ema, both optimisers, every random state and the training progress, so
that `--resume` continues the run exactly: same kimg, same schedules, same optimiser moments, same data
order. Everything is tensors and plain containers, so `torch.load(weights_only=True)` reads it.
"""
from __future__ import annotations

import dataclasses
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from core.checkpoint import FORMAT, CheckpointError, load_checkpoint, save_checkpoint
from core.config import _from_dict, to_plain
from core.networks.discriminator import DiscriminatorConfig

SNAPSHOT_NAME = re.compile(r"^snapshot-(\d{6})\.pt$")


def snapshot_name(cur_nimg: int) -> str:
    """File name of the snapshot taken after `cur_nimg` images: snapshot-<kimg:06d>.pt (kimg rounded down)."""
    return f"snapshot-{cur_nimg // 1000:06d}.pt"


def discriminator_config_to_dict(config: DiscriminatorConfig) -> dict[str, Any]:
    """Plain dict of a DiscriminatorConfig (lists for tuples)."""
    return to_plain(dataclasses.asdict(config))


def discriminator_config_from_dict(data: dict[str, Any]) -> DiscriminatorConfig:
    """Inverse of `discriminator_config_to_dict`."""
    return _from_dict(DiscriminatorConfig, data)


@dataclass
class Progress:
    """Where training stands; saved in every snapshot's metadata."""

    cur_nimg: int = 0  # real images shown to D so far, over all runs of this training (absolute)
    resume_nimg: int = 0  # cur_nimg at the start of the current run (the R fade counts from here)
    tick: int = 0  # ticks done so far
    batch_index: int = 0  # optimisation steps done so far (decides the lazy-R1 steps)
    sampler_position: int = 0  # global draws of the data sampler so far


def _cpu_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: tensor.detach().cpu().clone() for name, tensor in module.state_dict().items()}


def _optimizer_state_to_cpu(state: Any) -> Any:
    if isinstance(state, torch.Tensor):
        return state.detach().cpu().clone()
    if isinstance(state, dict):
        return {key: _optimizer_state_to_cpu(value) for key, value in state.items()}
    if isinstance(state, (list, tuple)):
        return type(state)(_optimizer_state_to_cpu(value) for value in state)
    return state


def random_state(device: torch.device) -> dict[str, Any]:
    """The global torch random states (CPU, and the CUDA device when training there)."""
    state = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def restore_random_state(state: dict[str, Any], device: torch.device) -> None:
    """Inverse of `random_state` (a CUDA state is ignored on the CPU)."""
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def training_payload(*, G, G_ema, D, D_ema, G_opt, D_opt, progress: Progress, training_config: dict[str, Any],
                     discriminator_config: DiscriminatorConfig, metadata: dict[str, Any],
                     rng: dict[str, Any]) -> dict[str, Any]:
    """The kind="training" checkpoint payload (docs/INTERFACES.md "Checkpoints")."""
    return {
        "format": FORMAT,
        "kind": "training",
        "config": G.config.to_dict(),
        "G_ema": _cpu_state(G_ema),
        "G": _cpu_state(G),
        "D": _cpu_state(D),
        "D_ema": _cpu_state(D_ema),
        "optimizers": {"G": _optimizer_state_to_cpu(G_opt.state_dict()),
                       "D": _optimizer_state_to_cpu(D_opt.state_dict())},
        "rng": rng,
        "metadata": {
            **metadata,
            "kimg": progress.cur_nimg / 1000,
            "progress": dataclasses.asdict(progress),
            "training_config": training_config,
            "discriminator_config": discriminator_config_to_dict(discriminator_config),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        },
    }


def save_snapshot(run_dir: Path, payload: dict[str, Any]) -> Path:
    """Write the payload atomically as run_dir/snapshot-<kimg:06d>.pt; returns its path."""
    cur_nimg = payload["metadata"]["progress"]["cur_nimg"]
    return save_checkpoint(run_dir / snapshot_name(cur_nimg), payload)


def latest_snapshot(path: str | Path) -> Path:
    """The snapshot to resume from: `path` itself if it is a file, else the highest-kimg snapshot in the folder."""
    path = Path(path)
    if path.is_file():
        return path
    if not path.is_dir():
        raise CheckpointError(path, "no such run folder or snapshot; give a run folder or a snapshot-*.pt file")
    snapshots = sorted((int(match.group(1)), entry.stat().st_mtime, entry) for entry in path.iterdir()
                       if (match := SNAPSHOT_NAME.match(entry.name)))
    if not snapshots:
        raise CheckpointError(path, "the run folder holds no snapshot-*.pt file to resume from")
    return snapshots[-1][2]


def load_training_snapshot(path: str | Path) -> tuple[Path, dict[str, Any]]:
    """(file, payload) of a training snapshot; a generator-only checkpoint cannot be resumed and says so."""
    path = latest_snapshot(path)
    payload = load_checkpoint(path)
    if payload["kind"] != "training":
        raise CheckpointError(path, "is a generator-only checkpoint; --resume needs a training snapshot "
                                    "(snapshot-*.pt written by python -m core.train)")
    for key in ("G", "D", "D_ema", "optimizers", "rng"):
        if key not in payload:
            raise CheckpointError(path, f"the training snapshot has no {key!r} entry")
    return path, payload
