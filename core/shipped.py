"""Where the repository keeps what it ships (the default model, the stand-in body) and where a user's machine keeps
what is worth computing only once (`user_cache_dir`). No torch and no project imports, so the GUI process and the
torch side read the same paths (tests/test_layering.py checks the users)."""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]  # the checkout; commands launched from the GUI run from here
CHECKPOINTS = REPO_ROOT / "checkpoints"
DEFAULT_CHECKPOINT = CHECKPOINTS / "default.pt"  # the shipped trained model (may not exist in a bare checkout)
STANDIN_BODY = CHECKPOINTS / "standin_body.npz"  # the SMPL-format stand-in body


def user_cache_dir() -> Path:
    """Per-user cache folder (derived data that can be rebuilt): $XDG_CACHE_HOME/portrait-viz or ~/.cache/..."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "portrait-viz"
