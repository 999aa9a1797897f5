"""Opening models: `load_generator` and `open_generator` for every tool (a project .pt, a released .pkl through
core.legacy, or `preset:<name>`), and the `python -m core.checkpoint` command line. core.checkpoint keeps the file
format only, so the released-checkpoint importer can use it without an import circle.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import torch

from core.checkpoint import (PRESET_INIT_SEED, PRESET_PREFIX, CheckpointError, export_generator,
                             generator_config_of, load_checkpoint, load_state_into)
from core.cli import command_line
from core.config import preset
from core.generator import TriGridGenerator
from core.legacy import import_released_checkpoint, load_released_generator


def load_generator(path: str | os.PathLike, device: torch.device | str = "cpu"):
    """(G_ema as a TriGridGenerator in eval mode on `device`, metadata dict) from a checkpoint file."""
    path = Path(path)
    if path.suffix == ".pkl" and path.is_file():
        return load_released_generator(path, device)
    payload = load_checkpoint(path)
    config = generator_config_of(path, payload)
    generator = TriGridGenerator(config)
    load_state_into(path, generator, payload["G_ema"], "G_ema")
    generator.eval().requires_grad_(False)
    return generator.to(device), dict(payload.get("metadata", {}))


def open_generator(spec: str | os.PathLike, device: torch.device | str = "cpu"):
    """(generator in eval mode, metadata, trained?) from a checkpoint path or a `preset:<name>` spec.

    A preset gives a randomly initialised model, seeded so that the visualizer and the command-line tools
    show the same untrained model; its metadata says so in `note`.
    """
    spec = str(spec)
    if not spec.startswith(PRESET_PREFIX):
        generator, metadata = load_generator(Path(spec).expanduser(), device)
        return generator, metadata, True
    name = spec[len(PRESET_PREFIX):]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(PRESET_INIT_SEED)
        generator = TriGridGenerator(preset(name))
    metadata = {"preset": name, "kimg": 0, "dataset": None,
                "note": f"untrained: randomly initialised {name} model (seed {PRESET_INIT_SEED})"}
    return generator.eval().requires_grad_(False).to(device), metadata, False


@command_line
def main(argv: list[str] | None = None) -> int:
    """`python -m core.checkpoint info FILE`, `... import FILE.pkl --out FILE.pt`,
    `... export SNAPSHOT --out FILE.pt`."""
    parser = argparse.ArgumentParser(prog="python -m core.checkpoint")
    commands = parser.add_subparsers(dest="command", required=True)
    info = commands.add_parser("info", help="print what a checkpoint holds")
    info.add_argument("file")
    converter = commands.add_parser("import", help="convert a released 3DPortraitGAN .pkl without running its code")
    converter.add_argument("file")
    converter.add_argument("--out", required=True)
    exporter = commands.add_parser("export", help="write a training snapshot's G_ema as a small generator file")
    exporter.add_argument("file", help="snapshot-*.pt of a run (or any checkpoint of this project)")
    exporter.add_argument("--out", required=True)
    exporter.add_argument("--note", help="a line stored in the metadata (shown by info and the viewer)")
    exporter.add_argument("--with-discriminator", action="store_true",
                          help="keep D_ema too, so the file can read the pose of an image (evaluation, viewer)")
    args = parser.parse_args(argv)
    try:
        if args.command == "info":
            payload = load_checkpoint(args.file)
            parameters = sum(tensor.numel() for tensor in payload["G_ema"].values())
            summary = {"kind": payload["kind"], "metadata": payload.get("metadata", {}), "G_ema_tensors": parameters,
                       "entries": sorted(payload), "config": payload["config"]}
            print(json.dumps(summary, indent=1, default=str))
        elif args.command == "export":
            out = export_generator(args.file, args.out, args.note, args.with_discriminator)
            print(f"wrote {out} ({out.stat().st_size / 2**20:.1f} MiB)")
        else:
            print(f"wrote {import_released_checkpoint(args.file, args.out)}")
    except CheckpointError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0
