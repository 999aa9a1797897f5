"""`--device auto`, the default of every command and of the viewer: CUDA when available, else the CPU."""
from __future__ import annotations

import pytest
import torch

from core.device import resolve_device


def test_auto_is_cuda_when_available_else_the_cpu():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected and resolve_device(None).type == expected
    assert resolve_device("cpu") == torch.device("cpu")


def test_bad_names_and_missing_cuda_say_what_to_use():
    with pytest.raises(ValueError, match="not a device; use auto"):
        resolve_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA device is available here; use --device cpu"):
            resolve_device("cuda:1")


def test_every_command_and_the_viewer_default_to_auto():
    from core.generate.__main__ import build_parser as generate_parser
    from core.mesh.__main__ import build_parser as mesh_parser
    from core.train.__main__ import _train_parser
    from renderer.engine import Renderer
    from renderer.requests import RenderRequest
    from visualizer import parse_args

    assert generate_parser().parse_args(["images", "--seeds", "0", "--out", "o"]).device == "auto"
    assert mesh_parser().parse_args(["c.pt", "--seed", "0", "--out", "m.ply"]).device == "auto"
    assert _train_parser().parse_args(["--data", "d", "--kimg", "1", "--outdir", "o"]).device == "auto"
    assert parse_args([]).device == "auto"
    # The worker resolves it, and the result says which device rendered (the status bar shows it).
    result = Renderer().render(RenderRequest(checkpoint="preset:tiny", device="auto", neural_resolution=8))
    assert result.error is None and result.model_info["device"] == str(resolve_device("auto"))
    assert "no CUDA" in Renderer().render(RenderRequest(device="cuda:7")).error or torch.cuda.device_count() > 7
