"""Parsing the generate commands' option values (seed ranges, angle lists, poses, grids) and opening a model."""
from __future__ import annotations

import argparse

from core.budget import MAX_IMAGES

import torch

from core.loading import open_generator
from core.device import resolve_device
from core.generate.render import OUTPUT_ALIASES
from core.shipped import DEFAULT_CHECKPOINT


def parse_seeds(text: str) -> tuple[int, ...]:
    """'0-3,7' -> (0, 1, 2, 3, 7): comma-separated seeds and inclusive ranges, order kept."""
    seeds: list[int] = []
    try:
        for part in text.split(","):
            part = part.strip()
            if "-" in part:
                first, last = (int(value) for value in part.split("-", 1))
                if last < first:
                    raise argparse.ArgumentTypeError(f"seed range {part!r} runs backwards; write {last}-{first}")
                if len(seeds) + last - first + 1 > MAX_IMAGES:  # checked before the list is built
                    raise argparse.ArgumentTypeError(f"seeds {text!r}: more than {MAX_IMAGES} seeds in one "
                                                     f"command; split the range into several commands")
                seeds.extend(range(first, last + 1))
            else:
                seeds.append(int(part))
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds {text!r}: use numbers and ranges such as 0-15 or 0,3,7") from None
    if any(seed < 0 for seed in seeds):
        raise argparse.ArgumentTypeError(f"seeds {text!r}: seeds are non-negative")
    return tuple(seeds)


def parse_floats(text: str) -> tuple[float, ...]:
    """'-30,0,30' -> (-30.0, 0.0, 30.0); commas or spaces separate the numbers."""
    try:
        values = tuple(float(part) for part in text.replace(",", " ").split())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected numbers separated by commas") from None
    if not values:
        raise argparse.ArgumentTypeError("expected at least one number")
    return values


def parse_pose(text: str) -> tuple[float, ...]:
    """Body pose in degrees: 6 numbers (neck xyz, head xyz) or 2 numbers NECK,HEAD (each a nod about x)."""
    values = parse_floats(text)
    if len(values) == 2:
        return (values[0], 0.0, 0.0, values[1], 0.0, 0.0)
    if len(values) == 6:
        return values
    raise argparse.ArgumentTypeError(f"pose {text!r}: give 6 numbers (neck x,y,z, head x,y,z in degrees) "
                                     f"or 2 (neck nod, head nod)")


def parse_grid(text: str) -> tuple[int, int]:
    """'4x4' -> (columns, rows)."""
    try:
        columns, rows = (int(value) for value in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"grid {text!r}: write COLUMNSxROWS, such as 4x4") from None
    if columns < 1 or rows < 1:
        raise argparse.ArgumentTypeError(f"grid {text!r}: columns and rows must be at least 1")
    return columns, rows


def parse_outputs(text: str) -> tuple[str, ...]:
    """'image,depth,mask' -> generator output names, in the given order."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [name for name in names if name not in OUTPUT_ALIASES and name not in OUTPUT_ALIASES.values()]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"outputs {text!r}: choose from {', '.join(OUTPUT_ALIASES)}")
    return tuple(dict.fromkeys(OUTPUT_ALIASES.get(name, name) for name in names))


def parse_device(text: str | None) -> torch.device:
    """The device to run on (core.device): auto or None = cuda when available, else cpu."""
    return resolve_device(text)


def load_model(checkpoint: str | None, device: torch.device) -> tuple[torch.nn.Module, str]:
    """(generator in eval mode on `device`, a line describing it) from a file, preset:<name> or the default."""
    if checkpoint is None:
        path = DEFAULT_CHECKPOINT
        if not path.is_file():
            raise ValueError(f"no --checkpoint given and the default {path} does not exist; pass --checkpoint "
                             f"FILE.pt, or --checkpoint preset:small for an untrained model")
        checkpoint = str(path)
    generator, metadata, trained = open_generator(checkpoint, device)
    if not trained:
        return generator, metadata["note"]
    known = [f"{key} {metadata[key]}" for key in ("preset", "kimg", "dataset") if metadata.get(key) is not None]
    description = f"{checkpoint} ({', '.join(known) or 'no metadata'})"
    return generator, description
