"""Keyframes from the AppState and back, playback at known times, and the Paths panel's session without a window."""
from __future__ import annotations

import math

import pytest

from core.generate.__main__ import _video_path, build_parser
from core.paths import CameraKey, CameraPath, Keyframe, LatentKey, load_path
from viz.jobs import JobBoard
from viz.context import RuntimeInfo, WidgetContext
from viz.path_player import PathPlayer, apply_frame, keyframe_from_state, seed_grid_point
from viz.path_session import PathSession
from viz.state import AppState


def posed_state() -> AppState:
    state = AppState(checkpoint="preset:tiny")
    camera = state.camera
    camera.yaw_deg, camera.pitch_deg, camera.fov_deg, camera.radius = 30.0, -10.0, 15.0, 3.1
    camera.lookat = (0.01, 0.05, -0.02)
    state.pose.neck_deg, state.pose.head_deg = (5.0, -10.0, 2.0), (1.0, 20.0, -3.0)
    state.latent.seed_x, state.latent.seed_y, state.latent.truncation_psi = 2.25, 1.5, 0.55
    return state


def test_state_keyframe_state_round_trip():
    state = posed_state()
    key = keyframe_from_state(state, time_s=2.0, easing="ease-out")
    assert key.camera.yaw_deg == 30.0 and key.camera.pitch_deg == -10.0 and key.camera.radius == 3.1
    assert key.camera.focal == pytest.approx(1.0 / (2.0 * math.tan(math.radians(7.5))))
    assert key.pose_deg == (5.0, -10.0, 2.0, 1.0, 20.0, -3.0)
    # seed_x 2.25, seed_y 1.5: the four grid neighbours 102, 103, 202, 203 with bilinear weights.
    assert dict(key.latent.seeds) == pytest.approx({102: 0.375, 103: 0.125, 202: 0.375, 203: 0.125})
    assert key.latent.psi == 0.55 and key.time_s == 2.0 and key.easing == "ease-out"

    restored = AppState()
    apply_frame(restored, key)
    assert restored.camera.fov_deg == pytest.approx(15.0, abs=1e-12)
    assert (restored.camera.yaw_deg, restored.camera.pitch_deg, restored.camera.radius) == (30.0, -10.0, 3.1)
    assert restored.camera.lookat == state.camera.lookat and restored.pose.degrees() == state.pose.degrees()
    assert (restored.latent.seed_x, restored.latent.seed_y) == pytest.approx((2.25, 1.5), abs=1e-12)
    again = keyframe_from_state(restored, 2.0, "ease-out")
    assert dict(again.latent.seeds) == pytest.approx(dict(key.latent.seeds), abs=1e-12)
    assert again.camera.focal == pytest.approx(key.camera.focal, abs=1e-12) and again.pose_deg == key.pose_deg


def test_recorded_yaw_unwraps_across_the_back():
    state = AppState()
    state.camera.yaw_deg = -170.0
    assert keyframe_from_state(state, previous_yaw_deg=170.0).camera.yaw_deg == 190.0
    assert keyframe_from_state(state, previous_yaw_deg=-100.0).camera.yaw_deg == -170.0
    frame = Keyframe(0.0, CameraKey(yaw_deg=190.0))
    apply_frame(state, frame)
    assert state.camera.yaw_deg == -170.0, "the state's yaw wraps into [-180, 180)"


def test_a_blend_of_distant_seeds_shows_its_heaviest_seed():
    assert seed_grid_point(LatentKey(((3, 0.3), (7, 0.7)))) == (7.0, 0.0)
    assert seed_grid_point(LatentKey(((205, 1.0),))) == (5.0, 2.0)
    assert seed_grid_point(LatentKey(((4, 0.5), (5, 0.5)))) == (4.5, 0.0), "grid neighbours blend exactly"


SWEEP = CameraPath((Keyframe(0.0, CameraKey(0.0), latent=LatentKey(((1, 1.0),))),
                    Keyframe(2.0, CameraKey(90.0), (20.0, 0, 0, 0, 0, 0), LatentKey(((1, 1.0),), psi=0.3))))


def test_playback_evaluates_the_path_at_known_times_and_stop_restores():
    state = AppState()
    state.camera.yaw_deg, state.camera.turntable, state.latent.seed_x = 45.0, True, 9.0
    player = PathPlayer()
    player.start(state, SWEEP)
    assert state.camera.yaw_deg == 0.0 and not state.camera.turntable, "the turntable would fight the path"
    assert player.advance(state, 0.5)
    assert state.camera.yaw_deg == pytest.approx(22.5) and state.pose.neck_deg[0] == pytest.approx(5.0)
    assert state.latent.seed_x == 1.0 and state.latent.truncation_psi == pytest.approx(0.7 - 0.4 * 0.25)
    player.advance(state, 2.0)  # 2.5 s on a 2 s loop: 0.5 s again
    assert player.time_s == pytest.approx(0.5) and state.camera.yaw_deg == pytest.approx(22.5)
    player.loop = False
    assert player.advance(state, 5.0) and state.camera.yaw_deg == 90.0
    assert not player.playing and not player.advance(state, 0.1), "a path played once stops at its end"
    assert player.holds_saved_state
    player.stop(state)
    assert (state.camera.yaw_deg, state.camera.turntable, state.latent.seed_x) == (45.0, True, 9.0)
    assert state.pose.degrees() == (0.0,) * 6


class FakeJobClient:
    """Remembers started jobs; reports each as finished on the first progress query."""

    def __init__(self):
        self.jobs = []

    def start_job(self, job):
        self.jobs.append(job)
        return len(self.jobs)

    def job_progress(self, job_id):
        from renderer.jobs import JobStatus

        return JobStatus(job_id, "done", 1.0, message="written")

    def cancel_job(self, job_id):
        raise AssertionError("nothing to cancel")


def make_session(tmp_path, client=None) -> PathSession:
    context = WidgetContext(state=AppState(checkpoint="preset:tiny"), info=RuntimeInfo(capture_folder=str(tmp_path)))
    return PathSession(context, JobBoard(lambda: client, context.info), "cpu")


def test_recorded_keyframes_save_and_the_command_line_reads_them(tmp_path):
    session = make_session(tmp_path)
    state = session.context.state
    session.add_keyframe()
    state.camera.yaw_deg, state.latent.seed_x = 120.0, 4.0
    session.key_duration_s = 1.5
    session.add_keyframe()
    state.camera.yaw_deg = -120.0  # 120 further round, not 240 back
    session.add_keyframe()
    keys = session.path.keyframes
    assert [key.time_s for key in keys] == [0.0, 1.5, 3.0] and keys[2].camera.yaw_deg == 240.0
    session.set_duration(2, 0.5)
    session.set_easing(1, "ease-in-out")
    session.move(2, -1)
    assert [key.camera.yaw_deg for key in session.path.keyframes] == [0.0, 240.0, 120.0]
    assert [key.time_s for key in session.path.keyframes] == [0.0, 1.5, 2.0], "times stay with their slots"
    assert session.selected == 1

    file = tmp_path / "recorded.json"
    assert session.save(str(file)) == file
    assert load_path(file) == session.path
    args = build_parser().parse_args(["video", "--path", str(file), "--out", str(tmp_path / "v.mp4")])
    assert _video_path(args) == session.path, "the command line reads the panel's file as it was recorded"

    session.delete(0)
    assert [key.time_s for key in session.path.keyframes] == [0.0, 0.5]
    assert session.load(str(file)) and session.path == load_path(file)


def test_bad_path_file_is_reported_with_its_name(tmp_path):
    session = make_session(tmp_path)
    broken = tmp_path / "broken.json"
    broken.write_text('{"format": "portrait-gan-path/1", "keyframes": [{"time": 0}, {"duration": -1}]}')
    assert not session.load(str(broken))
    level, text = session.context.info.last_message
    assert level == "error" and "broken.json" in text and "duration must be positive" in text
    assert session.path is None


def test_presets_carry_the_current_identity_and_render_as_a_job(tmp_path):
    client = FakeJobClient()
    session = make_session(tmp_path, client)
    state = session.context.state
    state.latent.set_seed(42)
    state.camera.pitch_deg = 10.0
    session.apply_preset("turntable")
    keys = session.path.keyframes
    assert [key.camera.yaw_deg for key in keys] == [0.0, 360.0] and keys[0].camera.pitch_deg == 10.0
    assert all(key.latent.seeds == ((42, 1.0),) for key in keys)
    session.apply_preset("morph")
    assert [key.latent.seeds[0][0] for key in session.path.keyframes] == [42, 43, 44, 42]

    session.video.fps, session.video.resolution = 4, 32
    session.video.out_file = str(tmp_path / "morph.mp4")
    session.start_render()
    job = client.jobs[0]
    assert job.path == session.path and job.out_file == str(tmp_path / "morph.mp4")
    assert job.request.checkpoint == "preset:tiny" and job.resolution == 32 and job.frames == 24
    assert session.job_status.state == "done"


class SlowJobClient(FakeJobClient):
    """A job that runs until it is cancelled."""

    def __init__(self):
        super().__init__()
        self.cancelled = []

    def job_progress(self, job_id):
        from renderer.jobs import JobStatus

        if job_id in self.cancelled:
            return JobStatus(job_id, "cancelled", 0.25, message="cancelled after 1 of 4 frames; no file written")
        return JobStatus(job_id, "running", 0.25, message="frame 1 of 4")

    def cancel_job(self, job_id):
        self.cancelled.append(job_id)


def test_cancel_from_the_panel_reaches_the_job_and_the_status_bar(tmp_path):
    client = SlowJobClient()
    session = make_session(tmp_path, client)
    session.start_render()
    assert client.jobs == [] and session.context.info.last_message[0] == "error", "no keyframes: nothing to render"
    session.add_keyframe()
    session.video.seconds = 1.0
    session.start_render()
    session.advance(0.1)
    assert session.rendering and session.job_status.fraction == 0.25
    session.start_render()
    assert len(client.jobs) == 1, "one path render at a time"
    session.cancel_render()
    session.advance(0.1)
    assert client.cancelled == [1] and not session.rendering
    assert session.context.info.last_message == ("warning", "path video cancelled after 1 of 4 frames; no file written")
