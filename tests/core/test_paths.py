"""Path files and evaluation: round trips, easing and yaw arithmetic with known answers, presets, bad files."""
from __future__ import annotations

import json
import math
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from core.paths import (
    PATH_FORMAT, CameraKey, CameraPath, Keyframe, LatentKey, PathFileError, ease, evaluate, frame_times,
    append_keyframe, insert_keyframe, load_path, path_from_dict, preset_path, remove_keyframe, retime, save_path,
    unwrap_yaws,
)

REPO = Path(__file__).resolve().parents[2]


def _write(tmp_path: Path, data, name: str = "path.json") -> Path:
    file = tmp_path / name
    file.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return file


def _minimal(**first_key) -> dict:
    return {"format": PATH_FORMAT, "keyframes": [{"time": 0, **first_key}, {"duration": 2.0}]}


def test_round_trip_keeps_every_field(tmp_path):
    path = CameraPath(
        keyframes=(
            Keyframe(0.0, CameraKey(-20.5, 7.25, 2.9, 5.0, (0.1, 0.2, -0.3)), (1, 2, 3, 4, 5, 6),
                     LatentKey(((3, 0.25), (11, 0.75)), 0.5)),
            Keyframe(1.3, CameraKey(400.0, -3.0), (0.0,) * 6, LatentKey(((7, 1.0),), 1.0), "ease-in-out"),
            Keyframe(2.0, CameraKey(10.0), (0.0, 9.5, 0.0, 0.0, 0.0, -2.0), LatentKey(((7, 1.0),), 0.7), "step"),
        ),
        yaw_mode="shortest", loop=False, name="test path",
    )
    file = save_path(path, tmp_path / "nested" / "p.json")
    assert load_path(file) == path
    assert not list(file.parent.glob("*.partial")), "the temporary file of the atomic write was left behind"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(file.stat().st_mode) == 0o666 & ~umask  # readable like any file, not mkstemp's 0600


def test_durations_accumulate_fields_inherit_and_fov_converts(tmp_path):
    data = {
        "format": PATH_FORMAT, "name": "hand written",
        "keyframes": [
            {"camera": {"yaw_deg": 10, "fov_deg": 30}, "latent": {"seeds": [1, 2]}},
            {"duration": 1.5, "pose": {"head_deg": [0, 20, 0]}},
            {"duration": 0.5, "camera": {"pitch_deg": 5}, "easing": "ease-out"},
        ],
    }
    path = load_path(_write(tmp_path, data))
    assert [key.time_s for key in path.keyframes] == [0.0, 1.5, 2.0]
    last = path.keyframes[-1]
    assert last.camera.yaw_deg == 10.0 and last.camera.pitch_deg == 5.0  # yaw inherited, pitch set
    assert last.camera.focal == pytest.approx(1.0 / (2.0 * math.tan(math.radians(15.0))), rel=1e-12)
    assert last.pose_deg == (0.0, 0.0, 0.0, 0.0, 20.0, 0.0)
    assert last.latent == LatentKey(((1, 0.5), (2, 0.5)), 0.7)  # equal weights by default


def test_easings_have_known_values():
    assert ease("linear", 0.25) == 0.25
    assert ease("ease-in", 0.5) == 0.25
    assert ease("ease-out", 0.5) == 0.75
    assert ease("ease-in-out", 0.5) == 0.5 and ease("ease-in-out", 0.25) == pytest.approx(0.15625)
    assert ease("step", 0.999) == 0.0 and ease("step", 1.0) == 1.0
    for name in ("linear", "ease-in", "ease-out", "ease-in-out"):
        assert ease(name, 0.0) == 0.0 and ease(name, 1.0) == 1.0


def test_unwrapped_yaw_turns_the_long_way_and_shortest_wraps():
    keys = (Keyframe(0.0, CameraKey(350.0)), Keyframe(1.0, CameraKey(10.0)))
    long_way = CameraPath(keys, yaw_mode="unwrapped")
    short_way = CameraPath(keys, yaw_mode="shortest")
    assert evaluate(long_way, 0.5).camera.yaw_deg == pytest.approx(180.0)  # 350 -> 10 backwards through 180
    assert evaluate(short_way, 0.5).camera.yaw_deg % 360.0 == pytest.approx(0.0)  # 350 -> 370 through 360
    assert evaluate(short_way, 0.25).camera.yaw_deg == pytest.approx(355.0)
    turntable = preset_path("turntable", 6.0)
    assert [evaluate(turntable, t).camera.yaw_deg for t in (0.0, 1.5, 3.0, 6.0)] == [0.0, 90.0, 180.0, 360.0]


def test_frame_times_leave_out_the_repeated_end_of_a_loop():
    turntable = preset_path("turntable", 6.0)
    yaws = [evaluate(turntable, t).camera.yaw_deg for t in frame_times(turntable, fps=2)]
    assert yaws == [30.0 * k for k in range(12)]  # 12 frames, 360 not repeated
    open_path = CameraPath((Keyframe(0.0), Keyframe(2.0, CameraKey(40.0))))
    assert frame_times(open_path, fps=2) == [0.0, 2 / 3, 4 / 3, 2.0]  # both ends shown
    stretched = frame_times(turntable, fps=2, seconds=3.0)  # 6 frames over the whole turn
    assert [evaluate(turntable, t).camera.yaw_deg for t in stretched] == [60.0 * k for k in range(6)]


def test_a_single_keyframe_needs_a_length_and_holds_still():
    still = CameraPath((Keyframe(0.0, CameraKey(25.0), (5.0, 0, 0, 0, 0, 0)),))
    with pytest.raises(ValueError, match="give the video's length in seconds"):
        frame_times(still, fps=10)
    states = [evaluate(still, t) for t in frame_times(still, fps=3, seconds=1.0)]
    assert len(states) == 3 and all(s.camera.yaw_deg == 25.0 and s.pose_deg[0] == 5.0 for s in states)


def test_latents_cross_fade_in_w_and_psi_interpolates():
    path = CameraPath((Keyframe(0.0, latent=LatentKey(((0, 1.0),), 0.5)),
                       Keyframe(2.0, latent=LatentKey(((3, 1.0),), 1.0))))
    middle = evaluate(path, 1.0).latent
    assert dict(middle.seeds) == {0: 0.5, 3: 0.5} and middle.psi == pytest.approx(0.75)
    assert evaluate(path, 0.0).latent.seeds == ((0, 1.0),) and evaluate(path, 2.0).latent.seeds == ((3, 1.0),)


def test_presets_reach_their_extremes():
    nod = preset_path("nod", 4.0)
    extreme = evaluate(nod, 1.0).pose_deg  # a quarter of the way: full nod, shared by neck and head
    assert extreme[0] + extreme[3] == pytest.approx(20.0) and extreme[1] == extreme[4] == 0.0
    assert evaluate(nod, 3.0).pose_deg[0] == pytest.approx(-10.0)
    shake = preset_path("shake", 4.0)
    assert evaluate(shake, 1.0).pose_deg[1] + evaluate(shake, 1.0).pose_deg[4] == pytest.approx(30.0)
    around = preset_path("lookaround", 4.0)
    assert around.keyframes[0].pose_deg == pytest.approx(around.keyframes[-1].pose_deg)  # a closed loop
    assert max(abs(evaluate(around, t).pose_deg[1]) for t in (0.5, 1.0, 1.5)) > 5.0
    morph = preset_path("morph", 6.0, seeds=(4, 5, 6))
    assert [key.latent.seeds[0][0] for key in morph.keyframes] == [4, 5, 6, 4]
    assert morph.duration_s == pytest.approx(6.0)
    with pytest.raises(ValueError, match="at least two seeds"):
        preset_path("morph", seeds=(1,))
    with pytest.raises(ValueError, match="unknown path preset 'spin'"):
        preset_path("spin")


def test_unwrap_yaws_removes_jumps():
    assert unwrap_yaws([350.0, 10.0, 30.0, -170.0]) == [350.0, 370.0, 390.0, 550.0]


@pytest.mark.parametrize("content, message", [
    ('{"format": "portrait-gan-path/1", "keyframes": [', "is not valid JSON (line 1"),
    ({"keyframes": [{"time": 0}]}, "missing 'format'"),
    ({"format": "portrait-gan-path/9", "keyframes": [{"time": 0}]}, "is not supported"),
    ({"format": PATH_FORMAT}, "missing 'keyframes'"),
    (_minimal(camera={"yaw_deg": "left"}), 'keyframes[0].camera.yaw_deg must be a number, got "left"'),
    (_minimal(pose={"neck_deg": [1, 2]}), "keyframes[0].pose.neck_deg must be a list of 3 numbers"),
    ({"format": PATH_FORMAT, "keyframes": [{"time": 0}, {"duration": -1}]}, "keyframes[1].duration must be positive"),
    ({"format": PATH_FORMAT, "keyframes": [{"time": 0}, {"time": 1, "easing": "bounce"}]},
     'keyframes[1].easing "bounce" is unknown'),
    ({"format": PATH_FORMAT, "keyframes": [{"time": 0}, {"camera": {}}]}, "keyframes[1] is missing 'time'"),
    ({"format": PATH_FORMAT, "keyframes": [{"time": 0}, {"time": 2}, {"time": 1}]}, "keyframe 2: time 1.0 s"),
    (_minimal(camera={"yaww_deg": 3}), "unknown field 'yaww_deg'"),
    (_minimal(latent={"seeds": [1.5]}), "keyframes[0].latent.seeds must be a non-empty list"),
    ({"format": PATH_FORMAT, "keyframes": [{"time": 0, "latent": {"seeds": [1]}}, {"time": 1, "latent": {}}]},
     None),
])
def test_bad_files_name_the_file_and_the_field(tmp_path, content, message):
    file = _write(tmp_path, content, "my_path.json")
    if message is None:  # a latent without seeds inherits the previous ones: valid
        assert load_path(file).keyframes[1].latent.seeds == ((1, 1.0),)
        return
    with pytest.raises(PathFileError) as caught:
        load_path(file)
    text = str(caught.value)
    assert "my_path.json" in text and message in text and "docs/generate.md" in text


def test_missing_file_and_latents_on_only_some_keyframes(tmp_path):
    with pytest.raises(PathFileError, match="nowhere.json: no such file"):
        load_path(tmp_path / "nowhere.json")
    half = {"format": PATH_FORMAT, "keyframes": [{"time": 0}, {"time": 1, "latent": {"seeds": [2]}}]}
    with pytest.raises(ValueError, match="every keyframe has a latent or none"):
        path_from_dict(half)


def test_the_path_modules_do_not_import_torch():
    code = "import sys, core.paths; assert 'torch' not in sys.modules, 'core.paths imported torch'"
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)


def test_recorder_edits_keep_paths_valid():
    path = append_keyframe(None, Keyframe(5.0, CameraKey(10.0)), 1.0)  # the first keyframe lands at 0
    path = append_keyframe(path, Keyframe(0.0, CameraKey(50.0)), 2.0)
    path = insert_keyframe(path, Keyframe(1.0, CameraKey(20.0)))
    assert [(key.time_s, key.camera.yaw_deg) for key in path.keyframes] == [(0.0, 10.0), (1.0, 20.0), (2.0, 50.0)]
    replaced = insert_keyframe(path, Keyframe(1.0, CameraKey(30.0)))
    assert [key.camera.yaw_deg for key in replaced.keyframes] == [10.0, 30.0, 50.0]
    shifted = remove_keyframe(path, 0)
    assert [(key.time_s, key.camera.yaw_deg) for key in shifted.keyframes] == [(0.0, 20.0), (1.0, 50.0)]
    assert remove_keyframe(remove_keyframe(shifted, -1), 0) is None
    stretched = retime(path, 6.0)
    assert [key.time_s for key in stretched.keyframes] == [0.0, 3.0, 6.0]
    assert evaluate(stretched, 4.5).camera.yaw_deg == pytest.approx(35.0)
    with pytest.raises(ValueError, match="positive time"):
        append_keyframe(path, Keyframe(0.0), 0.0)
    with pytest.raises(IndexError, match="has 3"):
        remove_keyframe(path, 3)
