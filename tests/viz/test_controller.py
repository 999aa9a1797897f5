"""The frame logic without a window: requests out, results in, checkpoint errors, undo, captures."""
from __future__ import annotations

import imageio.v2 as imageio
import numpy as np
from PIL import Image

from tests.fakes import FakeClient, picture_of
from viz.controller import Controller
from viz.state import AppState


def make_controller(tmp_path, checkpoint="preset:tiny", **client_options) -> Controller:
    return Controller(AppState(checkpoint=checkpoint), FakeClient(**client_options), "cpu", tmp_path / "captures")


def frame(controller: Controller, editing: bool = False):
    """One GUI frame (poll, widgets, end) plus the next frame's poll: the fake client answers at once."""
    controller.poll_results()
    sent = controller.end_frame(editing=editing, dragging=editing)
    controller.poll_results()
    return sent


def test_request_is_sent_once_and_the_result_is_shown(tmp_path):
    controller = make_controller(tmp_path)
    sent = frame(controller)
    assert sent is not None and sent.checkpoint == "preset:tiny"
    assert frame(controller) is None, "an unchanged state sends nothing"
    np.testing.assert_array_equal(controller.last_image, picture_of(sent))
    assert controller.info.renders == 1 and controller.info.untrained
    assert controller.info.active_checkpoint == "preset:tiny"


def test_drag_sends_previews_then_one_full_quality_request(tmp_path):
    controller = make_controller(tmp_path)
    frame(controller)
    for yaw in (5.0, 10.0, 15.0):
        controller.state.camera.yaw_deg = yaw
        assert frame(controller, editing=True).preview is True
    final = frame(controller, editing=False)
    assert final.preview is False and final.yaw_deg == 15.0
    controller.undo()
    assert controller.state.camera.yaw_deg == 0.0, "the whole drag is one undo step"


def test_corrupt_checkpoint_shows_an_error_and_keeps_the_old_model(tmp_path):
    controller = make_controller(tmp_path, checkpoint="good.pt")
    frame(controller)
    controller.state.camera.yaw_deg = 30.0
    frame(controller)
    controller.open_checkpoint(str(tmp_path / "corrupt.pt"))
    frame(controller)
    frame(controller)
    assert controller.state.checkpoint == "good.pt"
    level, text = controller.info.last_message
    assert level == "error" and "corrupt.pt" in text and "still showing good.pt" in text
    assert controller.info.active_checkpoint == "good.pt"
    assert controller.state.ui.recent_checkpoints == ["good.pt"]
    controller.undo()
    assert controller.state.camera.yaw_deg == 0.0 and controller.state.checkpoint == "good.pt"


def test_save_render_writes_the_shown_pixels(tmp_path):
    controller = make_controller(tmp_path)
    assert controller.save_render() is None, "nothing rendered yet"
    frame(controller)
    path = controller.save_render()
    assert path.parent == tmp_path / "captures" and path.suffix == ".png"
    np.testing.assert_array_equal(np.asarray(Image.open(path)), controller.last_image)


def _recording_a_yaw_sweep(tmp_path, frames: int):
    """A controller that has recorded `frames` results of a yaw sweep (the recording still running)."""
    controller = make_controller(tmp_path)
    frame(controller)
    controller.set_recording(True)
    for yaw in range(frames):
        controller.state.camera.yaw_deg = float(10 + yaw * 10)
        frame(controller)
    return controller


def test_recording_writes_one_video_frame_per_result(tmp_path):
    controller = _recording_a_yaw_sweep(tmp_path, 5)
    controller.set_recording(False)
    videos = list((tmp_path / "captures").glob("recording-*.mp4"))
    assert len(videos) == 1
    reader = imageio.get_reader(videos[0])
    frames = [reader.get_data(index) for index in range(reader.count_frames())]
    assert len(frames) == 5 and frames[0].shape == (32, 32, 3)
    # The yaw sweep is visible in the video: consecutive frames differ.
    assert np.abs(frames[0].astype(int) - frames[-1].astype(int)).mean() > 10
    assert "5 frames" in controller.info.last_message[1]


def test_a_recording_that_cannot_be_completed_is_not_published(tmp_path, monkeypatch):
    import core.media as media

    controller = _recording_a_yaw_sweep(tmp_path, 3)
    monkeypatch.setattr(media, "_frames_in", lambda file: 1)  # what a decoder finds in a file cut by a full disk
    controller.set_recording(False)
    assert not list((tmp_path / "captures").glob("*.mp4")), "no unplayable video under a final name"
    assert not list((tmp_path / "captures").glob(".*partial*")), "and no partial file left"
    level, text = controller.info.last_message
    assert level == "error" and "not saved" in text


def test_state_file_commands_round_trip_and_bad_files_are_reported(tmp_path):
    controller = make_controller(tmp_path)
    controller.state.pose.neck_deg = (0.0, 25.0, 0.0)
    controller.context.post("save_state", tmp_path / "saved.json")
    frame(controller)
    controller.state.pose.neck_deg = (0.0, 0.0, 0.0)
    controller.context.post("load_state", tmp_path / "saved.json")
    frame(controller)
    assert controller.state.pose.neck_deg == (0.0, 25.0, 0.0)
    (tmp_path / "broken.json").write_text("{")
    controller.context.post("load_state", tmp_path / "broken.json")
    frame(controller)
    level, text = controller.info.last_message
    assert level == "error" and "broken.json" in text
    assert controller.state.pose.neck_deg == (0.0, 25.0, 0.0)


def test_turntable_advances_and_wraps_the_yaw(tmp_path):
    controller = make_controller(tmp_path)
    camera = controller.state.camera
    camera.yaw_deg, camera.turntable, camera.turntable_speed_deg_s = 170.0, True, 30.0
    assert controller.advance_animations(1.0)
    assert camera.yaw_deg == -160.0
    camera.turntable = False
    assert not controller.advance_animations(1.0) and camera.yaw_deg == -160.0


def test_a_failed_refinement_is_not_asked_again(tmp_path):
    from renderer.requests import RenderResult

    controller = make_controller(tmp_path)
    controller.state.render.refine_when_idle = True
    frame(controller)
    sent = []
    original_submit = controller.client.submit
    controller.client.submit = lambda request: sent.append(request) or original_submit(request)
    for _ in range(20):
        frame(controller)
    assert [request.refinement for request in sent] == [1, 2], sent
    # A refinement that fails (say, out of memory) is shown as an error once and not retried every frame.
    failing = sent[-1]
    controller.client.poll = lambda: RenderResult(99, failing, error="out of memory")
    controller.info.shown_request = failing.replace(refinement=1)
    controller.poll_results()
    controller.client.poll = lambda: None
    sent.clear()
    for _ in range(5):
        controller.end_frame(editing=False, dragging=False)
    assert sent == []


def test_the_status_bar_says_when_a_preview_is_raw(tmp_path):
    from viz.shell.menus import shown_quality  # the shell module imports imgui: only this test needs it

    for raw in (False, True):
        controller = make_controller(tmp_path, raw_previews=raw)
        frame(controller)
        assert shown_quality(controller.info.shown_request, controller.info.shown_raw) == "full"
        controller.state.camera.yaw_deg = 5.0
        frame(controller, editing=True)
        expected = "preview, raw" if raw else "preview"
        assert shown_quality(controller.info.shown_request, controller.info.shown_raw) == expected


def test_the_status_bar_counts_the_seconds_of_a_long_wait(tmp_path):
    import time

    from viz.shell.menus import BUSY_SECONDS_AFTER_S, worker_label  # the shell module imports imgui

    controller = make_controller(tmp_path, delay_s=0.3)
    controller.poll_results()
    controller.end_frame(editing=False, dragging=False)
    before = time.monotonic()
    controller.poll_results()
    info = controller.info
    assert info.busy and before - 0.01 <= info.busy_since <= time.monotonic()
    assert worker_label(info, info.busy_since + 0.5) == "busy"
    waited = BUSY_SECONDS_AFTER_S + 10
    assert worker_label(info, info.busy_since + waited + 0.2) == f"busy {waited:.0f} s"
    started = info.busy_since
    controller.state.camera.yaw_deg = 7.0  # a new request while still busy: the wait goes on from its start
    controller.end_frame(editing=False, dragging=False)
    controller.poll_results()
    assert info.busy_since == started
    deadline = time.monotonic() + 5
    while info.busy and time.monotonic() < deadline:
        time.sleep(0.05)
        controller.poll_results()
    assert worker_label(info, time.monotonic()) == "idle"
