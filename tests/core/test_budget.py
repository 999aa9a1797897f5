"""Bounded work (#20 item 3): every size a command line, a path file or a checkpoint asks for is checked before
any work, and the refusal is one line naming the option and the largest value that fits."""
from __future__ import annotations

import time

import pytest
import torch

from core.budget import MAX_IMAGES, MAX_SAMPLES_PER_RAY, MAX_VIDEO_FRAMES, BudgetError, check_limit
from core.checkpoint import generator_payload, save_checkpoint
from core.config import GeneratorConfig, RenderingConfig, preset
from core.generate.__main__ import main as generate
from core.generator import TriGridGenerator
from core.mesh.__main__ import main as mesh
from core.mesh.grid import PEAK_BYTES_PER_VOXEL, GridTooLargeError, check_grid_budget
from core.paths import preset_path, save_path
from core.paths.evaluate import frame_count


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    return str(save_checkpoint(tmp_path_factory.mktemp("model") / "tiny.pt",
                               generator_payload(TriGridGenerator(preset("tiny")))))


def _one_line_error(capsys, code: int, *names: str) -> str:
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert code != 0 and err.startswith("error:") and "Traceback" not in err
    assert all(name in err for name in names), err
    return err


def test_huge_videos_are_refused_before_a_frame_list_exists(checkpoint, tmp_path, capsys):
    started = time.perf_counter()
    code = generate(["video", "--checkpoint", checkpoint, "--path", "turntable", "--seconds", "1e9",
                     "--out", str(tmp_path / "v.mp4")])
    _one_line_error(capsys, code, "frames", str(MAX_VIDEO_FRAMES), "--seconds")
    code = generate(["video", "--checkpoint", checkpoint, "--path", "turntable", "--fps", "1e9",
                     "--out", str(tmp_path / "v.mp4")])
    _one_line_error(capsys, code, "--fps")
    long_path = preset_path("turntable", 1e9)  # a path file whose keyframes last 1e9 s
    save_path(long_path, tmp_path / "long.json")
    code = generate(["video", "--checkpoint", checkpoint, "--path", str(tmp_path / "long.json"),
                     "--out", str(tmp_path / "v.mp4")])
    _one_line_error(capsys, code, "frames", "keyframes")
    assert time.perf_counter() - started < 30  # refused, not attempted
    assert not list(tmp_path.glob("v*"))
    assert frame_count(preset_path("turntable", 4.0), 30.0) == 120  # ordinary lengths pass


def test_seed_ranges_samples_and_sizes_are_bounded(checkpoint, tmp_path, capsys):
    with pytest.raises(SystemExit):
        generate(["images", "--checkpoint", checkpoint, "--seeds", "0-100000000", "--out", str(tmp_path)])
    assert f"more than {MAX_IMAGES} seeds" in capsys.readouterr().err
    for option, value in (("--depth-samples", "10000000"), ("--importance-samples", "5000"),
                          ("--neural-resolution", "100000"), ("--resolution", "1000000")):
        code = generate(["images", "--checkpoint", checkpoint, "--seeds", "0", option, value,
                         "--out", str(tmp_path / "out")])
        _one_line_error(capsys, code, option, value)
    code = generate(["images", "--checkpoint", checkpoint, "--seeds", "0", "--depth-samples", "1",
                     "--out", str(tmp_path / "out")])
    _one_line_error(capsys, code, "--depth-samples", "too small")


def test_a_checkpoint_asking_for_absurd_sampling_is_refused_with_its_name(tmp_path, capsys):
    payload = generator_payload(TriGridGenerator(preset("tiny")))
    payload["config"]["rendering"]["depth_resolution"] = 10_000_000
    bad = save_checkpoint(tmp_path / "bad.pt", payload)
    code = generate(["images", "--checkpoint", str(bad), "--seeds", "0", "--out", str(tmp_path / "out")])
    _one_line_error(capsys, code, str(bad), "depth_resolution", str(MAX_SAMPLES_PER_RAY))
    with pytest.raises(ValueError, match="fine samples per ray"):
        RenderingConfig(depth_resolution_importance=MAX_SAMPLES_PER_RAY + 1)
    with pytest.raises(ValueError, match="neural_resolution"):
        GeneratorConfig.from_dict({"neural_resolution": 10 ** 6})


def test_mesh_sizes_are_bounded_and_the_suggested_resolution_fits(checkpoint, tmp_path, capsys):
    out = str(tmp_path / "m.ply")
    for extra, names in ((["--resolution", "1"], ("--resolution 1", "at least 2")),
                         (["--smooth", "10000000"], ("--smooth", "1000")),
                         (["--grid-smooth", "1e7"], ("--grid-smooth",)),
                         (["--memory-budget", "0"], ("--memory-budget",))):
        _one_line_error(capsys, mesh([checkpoint, "--seed", "0", "--out", out, *extra]), *names)
    code = mesh([checkpoint, "--seed", "0", "--out", out, "--resolution", "256", "--memory-budget", "0.05"])
    err = _one_line_error(capsys, code, "--resolution 256", "at most")
    fitting = int(err.split("at most ")[1].split()[0])
    budget = int(0.05 * 2 ** 30)
    assert fitting ** 3 * PEAK_BYTES_PER_VOXEL <= budget < (fitting + 1) ** 3 * PEAK_BYTES_PER_VOXEL
    check_grid_budget(fitting, budget)  # the suggestion itself passes
    with pytest.raises(GridTooLargeError):
        check_grid_budget(fitting + 1, budget)
    # ... and it extracts: a mesh at that resolution within that budget.
    assert mesh([checkpoint, "--seed", "0", "--out", out, "--resolution", str(fitting), "--memory-budget", "0.05",
                 "--level", "0"]) in (0, 1)  # 1 only for "no surface at level", never a budget refusal
    assert "budget" not in capsys.readouterr().err


def test_check_limit_names_the_option_and_refuses_nan():
    with pytest.raises(BudgetError, match=r"--x nan is more than the 5 allowed; try 2"):
        check_limit("--x", float("nan"), 5, "try 2")
    check_limit("--x", 5, 5)
