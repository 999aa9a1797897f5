"""The generate commands on a saved tiny model: videos that read back, reproducible pixels, turntable frames that
equal single renders (and the visualizer's renderer), image sheets, cancel and progress, clear errors."""
from __future__ import annotations

import json
import os
import stat
import threading

import imageio.v3 as iio
import numpy as np
import pytest
import torch
from PIL import Image

from core.checkpoint import generator_payload, save_checkpoint
from core.loading import load_generator
from core.config import preset
from core.generate import RenderCancelled, render_path_frames
from core.generate.__main__ import main
from core.generator import TriGridGenerator
from core.paths import PATH_FORMAT, preset_path
from renderer.engine import Renderer
from renderer.requests import RenderRequest

NEURAL = 16  # rays per side: keeps every frame well under 0.1 s on 2 cores


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(1234)
    generator = TriGridGenerator(preset("tiny"))
    return str(save_checkpoint(tmp_path_factory.mktemp("model") / "tiny.pt", generator_payload(generator)))


def _video(checkpoint, out, *extra) -> int:
    return main(["video", "--checkpoint", checkpoint, "--device", "cpu", "--neural-resolution", str(NEURAL),
                 "--out", str(out), *extra])


def _png(file) -> np.ndarray:
    return np.asarray(Image.open(file).convert("RGB"))


def test_video_has_the_frame_count_size_and_fps_asked_for(checkpoint, tmp_path):
    out = tmp_path / "turn.mp4"
    assert _video(checkpoint, out, "--seeds", "0", "--path", "turntable", "--fps", "5", "--seconds", "1.2",
                  "--resolution", "48") == 0
    frames = iio.imread(out)
    assert frames.shape == (6, 48, 48, 3)
    assert iio.immeta(out)["fps"] == pytest.approx(5.0)
    assert frames.std() > 1.0, "the video is blank"
    assert not list(tmp_path.glob("*.partial*")), "the temporary file of the atomic write was left behind"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask  # readable like any file, not mkstemp's 0600


def test_same_command_twice_gives_identical_frames(checkpoint, tmp_path):
    command = ("--seeds", "0,3", "--path", "turntable", "--fps", "2", "--seconds", "1.5")
    for name in ("a.mp4", "b.mp4"):
        assert _video(checkpoint, tmp_path / name, *command) == 0
    first, second = iio.imread(tmp_path / "a.mp4"), iio.imread(tmp_path / "b.mp4")
    assert first.shape == (3, 64, 128, 3)  # two seeds side by side at the model's 64 px
    np.testing.assert_array_equal(first, second)


def test_turntable_frame_equals_single_render_and_the_visualizer(checkpoint, tmp_path):
    generator, _ = load_generator(checkpoint, "cpu")
    turntable = preset_path("turntable", 2.0)
    frames = render_path_frames(generator, turntable, fps=4.0, seeds=(5,), psi=0.6)  # yaw 45 k
    assert len(frames) == 8
    out = tmp_path / "views"
    assert main(["images", "--checkpoint", checkpoint, "--device", "cpu", "--seeds", "5", "--psi", "0.6",
                 "--yaw", "90,225", "--out", str(out)]) == 0
    np.testing.assert_array_equal(frames[2], _png(out / "seed0005_yaw90_pitch0.png"))
    np.testing.assert_array_equal(frames[5], _png(out / "seed0005_yaw225_pitch0.png"))
    assert not np.array_equal(frames[2], frames[5])
    # The visualizer's renderer shows the same pixels for the same request.
    request = RenderRequest(checkpoint=checkpoint, seeds=((5, 1.0),), truncation_psi=0.6, yaw_deg=90.0)
    result = Renderer("cpu").render(request)
    assert result.error is None, result.error
    np.testing.assert_array_equal(frames[2], result.image)


def test_images_writes_per_seed_files_and_grids_of_each_output(checkpoint, tmp_path):
    out = tmp_path / "sheet"
    assert main(["images", "--checkpoint", checkpoint, "--device", "cpu", "--seeds", "0-3", "--grid", "2x2",
                 "--outputs", "image,depth,mask", "--neural-resolution", str(NEURAL), "--out", str(out)]) == 0
    for suffix, size in (("", 64), ("_depth", NEURAL), ("_mask", NEURAL)):
        tiles = [_png(out / f"seed{seed:04d}{suffix}.png") for seed in range(4)]
        assert all(tile.shape == (size, size, 3) for tile in tiles)
        sheet = _png(out / f"grid{suffix}.png")
        assert sheet.shape == (2 * size, 2 * size, 3)
        np.testing.assert_array_equal(sheet[:size, size:], tiles[1])  # row 0, column 1
        np.testing.assert_array_equal(sheet[size:, :size], tiles[2])  # row 1, column 0
    depth = _png(out / "seed0000_depth.png")
    assert depth.min() == 0 and depth.max() == 255  # min-max normalised like the visualizer shows it
    assert not np.array_equal(_png(out / "seed0000.png"), _png(out / "seed0001.png"))


def test_progress_is_reported_and_cancel_stops(checkpoint):
    generator, _ = load_generator(checkpoint, "cpu")
    from core.generate import RenderSettings

    settings = RenderSettings(neural_resolution=NEURAL)
    calls = []
    cancel = threading.Event()

    def progress(done, total):
        calls.append((done, total))
        if done == 2:
            cancel.set()

    with pytest.raises(RenderCancelled) as caught:
        render_path_frames(generator, preset_path("turntable", 1.0), fps=6, seeds=(0,), settings=settings,
                           progress=progress, cancel=cancel)
    assert caught.value.frames_done == 2 and calls == [(1, 6), (2, 6)]


def test_morph_file_starts_on_its_first_seed_and_writes_gif(checkpoint, tmp_path):
    path_file = tmp_path / "morph.json"
    path_file.write_text(json.dumps({"format": PATH_FORMAT, "keyframes": [
        {"time": 0, "latent": {"seeds": [2], "psi": 0.7}},
        {"duration": 1.0, "latent": {"seeds": [9]}, "easing": "ease-in-out"},
    ]}))
    gif = tmp_path / "morph.gif"
    assert _video(checkpoint, gif, "--path", str(path_file), "--fps", "3") == 0
    frames = iio.imread(gif, index=None)
    assert frames.shape[:3] == (3, 64, 64)  # an open path: both ends, 3 frames over 1 s at 3 fps
    out = tmp_path / "seeds"
    assert main(["images", "--checkpoint", checkpoint, "--device", "cpu", "--seeds", "2,9", "--neural-resolution",
                 str(NEURAL), "--out", str(out)]) == 0
    # GIF palettes are lossy: compare with a tolerance, and check the middle frame is neither end.
    start, end = _png(out / "seed0002.png").astype(int), _png(out / "seed0009.png").astype(int)
    assert np.abs(frames[0][..., :3].astype(int) - start).mean() < 6
    assert np.abs(frames[2][..., :3].astype(int) - end).mean() < 6
    assert np.abs(frames[1][..., :3].astype(int) - start).mean() > 2 * np.abs(start - end).mean() / 10


def test_bad_inputs_fail_with_a_clear_message(checkpoint, tmp_path, capsys):
    broken = tmp_path / "broken.json"
    broken.write_text('{"format": "portrait-gan-path/1", "keyframes": [{"time": 0, "easing": "wobble"}]}')
    assert _video(checkpoint, tmp_path / "x.mp4", "--path", str(broken)) == 2
    assert "broken.json" in capsys.readouterr().err
    assert _video(checkpoint, tmp_path / "odd.mp4", "--path", "turntable", "--seconds", "0.2",
                  "--resolution", "33") == 2
    assert "even" in capsys.readouterr().err and not list(tmp_path.glob("odd*"))
    assert _video(checkpoint, tmp_path / "clip.avi", "--path", "turntable") == 2
    assert ".mp4 or .gif" in capsys.readouterr().err
    assert _video(checkpoint, tmp_path / "g.mp4", "--path", "turntable", "--seeds", "0-4", "--grid", "2x2") == 2
    assert "holds fewer cells than the 5 seeds" in capsys.readouterr().err
    assert main(["images", "--checkpoint", checkpoint, "--seeds", "0-3", "--yaw", "0,90", "--grid", "3x2",
                 "--out", str(tmp_path / "none")]) == 2
    assert "fewer cells than the 8 images" in capsys.readouterr().err
    assert main(["images", "--checkpoint", str(tmp_path / "missing.pt"), "--device", "cpu", "--seeds", "0",
                 "--out", str(tmp_path / "none")]) == 2
    assert "missing.pt" in capsys.readouterr().err


def test_posed_path_frame_equals_a_posed_single_render(checkpoint, tmp_path):
    from core.generate import RenderSettings
    from core.paths import CameraPath, Keyframe

    pose = (0.0, 10.0, 0.0, 0.0, 20.0, 5.0)
    path = CameraPath((Keyframe(0.0), Keyframe(1.0, pose_deg=pose)))
    # A coarse warp grid (the cost is building it, once per pose); the mapping stays conditioned on the rest pose.
    settings = RenderSettings(neural_resolution=NEURAL, warp_resolution=16, cond_pose_deg=(0.0,) * 6)
    generator, _ = load_generator(checkpoint, "cpu")
    rest, posed = render_path_frames(generator, path, fps=2.0, seeds=(4,), settings=settings)
    out = tmp_path / "posed"
    assert main(["images", "--checkpoint", checkpoint, "--device", "cpu", "--seeds", "4", "--neural-resolution",
                 str(NEURAL), "--pose", ",".join(map(str, pose)), "--cond-pose", "0,0,0,0,0,0",
                 "--warp-resolution", "16", "--out", str(out)]) == 0
    np.testing.assert_array_equal(posed, _png(out / "seed0004.png"))
    moved = np.abs(rest.astype(int) - posed.astype(int)).max(axis=-1)
    # An untrained model is a diffuse fog, so the warp changes many pixels by only a little.
    assert (moved > 0).mean() > 0.25, "the pose did not reach the warp"


def test_angle_lists_may_start_with_a_minus_sign():
    from core.generate.__main__ import _join_negative_values, build_parser

    argv = ["images", "--seeds", "0-2", "--yaw", "-30,0,30", "--pitch", "-5", "--pose", "-10,20", "--out", "o"]
    args = build_parser().parse_args(_join_negative_values(argv))
    assert args.yaw == (-30.0, 0.0, 30.0) and args.pitch == (-5.0,) and args.seeds == (0, 1, 2)
    assert args.pose == (-10.0, 0.0, 0.0, 20.0, 0.0, 0.0)  # NECK,HEAD: two nods


def test_the_reference_camera_convention_and_sampler_match_the_visualizer(checkpoint, tmp_path):
    out = tmp_path / "conventions"
    common = ["images", "--checkpoint", checkpoint, "--device", "cpu", "--seeds", "2", "--yaw", "30",
              "--neural-resolution", str(NEURAL)]
    assert main([*common, "--out", str(out / "project")]) == 0
    assert main([*common, "--camera-convention", "reference", "--importance-sampler", "reference",
                 "--out", str(out / "reference")]) == 0
    project, reference = (_png(out / name / "seed0002.png") for name in ("project", "reference"))
    assert not np.array_equal(project, reference)
    # The visualizer's renderer gives the same pixels for the same conventions.
    request = RenderRequest(checkpoint=checkpoint, seeds=((2, 1.0),), yaw_deg=30.0, neural_resolution=NEURAL,
                            camera_convention="reference", importance_sampler="reference")
    result = Renderer("cpu").render(request)
    assert result.error is None, result.error
    np.testing.assert_array_equal(reference, result.image)
    assert result.model_info["importance_sampler"] == "project"  # our own model's sampler
    with pytest.raises(SystemExit):
        main([*common, "--camera-convention", "opengl", "--out", str(out / "bad")])
    with pytest.raises(ValueError, match="camera_convention"):
        RenderRequest(camera_convention="opengl")
