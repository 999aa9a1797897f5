"""Where the repository keeps what it ships (the default model, the stand-in body) and where a user's settings,
outputs and caches live (`user_config_dir`, `user_data_dir`, `user_cache_dir`). No torch and no project imports,
so the GUI process and the torch side read the same paths (tests/test_layering.py checks the users)."""
from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]  # the checkout; commands launched from the GUI run from here
CHECKPOINTS = REPO_ROOT / "checkpoints"
DEFAULT_CHECKPOINT = CHECKPOINTS / "default.pt"  # the shipped trained model (may not exist in a bare checkout)
STANDIN_BODY = CHECKPOINTS / "standin_body.npz"  # the SMPL-format stand-in body


APP_FOLDER = "portrait-viz"  # the per-user folders' name under each XDG base


def _user_dir(variable: str, *fallback: str) -> Path:
    """$`variable`/portrait-viz, or ~/`fallback`/portrait-viz when the variable is unset (XDG base directories)."""
    return Path(os.environ.get(variable) or Path.home().joinpath(*fallback)) / APP_FOLDER


def user_config_dir() -> Path:
    """Per-user settings folder: $XDG_CONFIG_HOME/portrait-viz or ~/.config/portrait-viz."""
    return _user_dir("XDG_CONFIG_HOME", ".config")


def user_data_dir() -> Path:
    """Per-user output folder for screenshots and recordings: $XDG_DATA_HOME/portrait-viz or ~/.local/share/..."""
    return _user_dir("XDG_DATA_HOME", ".local", "share")


def user_cache_dir() -> Path:
    """Per-user cache folder (derived data that can be rebuilt): $XDG_CACHE_HOME/portrait-viz or ~/.cache/..."""
    return _user_dir("XDG_CACHE_HOME", ".cache")
