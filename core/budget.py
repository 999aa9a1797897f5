"""One budget check for every size a user, a path file or a checkpoint can ask for.

Frames, images, samples per ray, smoothing steps, resolutions and grids are checked before any work
starts, and a refusal names the option and the largest value that fits (this machine's memory where
memory is the limit). Imports no torch: the GUI and the argument parsers use it too.
"""
from __future__ import annotations

import math

MAX_VIDEO_FRAMES = 108_000  # an hour at 30 fps: longer videos are several commands
MAX_IMAGES = 10_000  # images of one `core.generate images` command (seeds x views)
MAX_SAMPLES_PER_RAY = 1024  # coarse or fine samples per ray (the reference renders with 48 to 192)
MAX_NEURAL_RESOLUTION = 1024  # rays per image side (the reference's largest is 128)
MAX_IMAGE_SIDE = 8192  # pixels per side of a written image or video frame
MAX_INVERT_STEPS = 100_000  # latent or fine-tuning steps of one photo inversion (200 is typical)
MAX_SMOOTH_STEPS = 1000  # Taubin smoothing steps of a mesh (10-50 is typical)
MAX_GRID_SMOOTH_VOXELS = 16.0  # Gaussian sigma of grid smoothing, in voxels
MEMORY_SHARE = 0.8  # share of the currently available memory one job may plan to use


class BudgetError(ValueError):
    """A size is beyond what this machine (or a sane job) can do; the message names the option and the
    largest value that fits."""


def check_limit(option: str, value: float, limit: float, advice: str = "") -> None:
    """Raise BudgetError unless `value` is a finite number of at most `limit`."""
    if not math.isfinite(value) or value > limit:
        shown = value if isinstance(value, int) else f"{value:g}"
        raise BudgetError(f"{option} {shown} is more than the {limit:g} allowed{'; ' + advice if advice else ''}")


def available_memory_bytes() -> int | None:
    """MemAvailable of /proc/meminfo in bytes, or None where there is no such file (not Linux)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def memory_budget(cap: int) -> int:
    """Bytes one job may plan to use: `cap`, less where the available memory is smaller."""
    available = available_memory_bytes()
    return cap if available is None else min(cap, int(available * MEMORY_SHARE))
