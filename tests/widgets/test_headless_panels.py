"""Panels in a bare ImGui context (no display): clicks on named widgets change the state they edit, and the
panels draw for unusual states without raising."""
from __future__ import annotations

import pytest

from tests.widgets.headless import HeadlessPanel
from viz.context import RuntimeInfo, WidgetContext
from viz.state import AppState
from viz.training.session import TrainingSession
from widgets.camera_widget import CameraWidget
from widgets.capture_widget import CaptureWidget
from widgets.latent_widget import LatentWidget
from widgets.performance_widget import PerformanceWidget
from widgets.pose_widget import PRESETS, PoseWidget
from widgets.render_widget import RenderWidget
from widgets.training_widget import TrainingWidget


def make_context() -> WidgetContext:
    return WidgetContext(state=AppState(), info=RuntimeInfo(device="cpu"))


def test_camera_panel_view_buttons_turntable_and_reset():
    context = make_context()
    camera = context.state.camera
    with HeadlessPanel(CameraWidget(context)) as panel:
        panel.click("Back")
        assert (camera.yaw_deg, camera.pitch_deg) == (-180.0, 0.0)
        panel.click("Reset##yaw")
        assert camera.yaw_deg == context.defaults.camera.yaw_deg
        assert not camera.turntable
        panel.click("Turntable")
        assert camera.turntable
        camera.radius = 4.0
        panel.click("Reset camera")
        camera = context.state.camera  # reset replaces the camera state
        assert camera.radius == context.defaults.camera.radius and not camera.turntable


def test_pose_panel_presets_and_resets():
    context = make_context()
    pose = context.state.pose
    name, (neck, head) = next(iter(PRESETS.items()))
    with HeadlessPanel(PoseWidget(context)) as panel:
        panel.click(name)
        assert (pose.neck_deg, pose.head_deg) == (neck, head) and head != (0.0, 0.0, 0.0)
        panel.click("Reset head")
        assert pose.head_deg == (0.0, 0.0, 0.0) and pose.neck_deg == neck
        panel.click("Show predicted pose")
        assert pose.use_predicted_pose
        panel.frame()  # no predicted pose returned yet: the panel says so instead of failing


def test_latent_panel_leaves_an_inverted_latent_for_the_seeds():
    context = make_context()
    latent = context.state.latent
    latent.latent_file = "/somewhere/latent.npz"
    with HeadlessPanel(LatentWidget(context)) as panel:
        panel.click("Back to seeds")
        assert latent.latent_file is None
        panel.click("Animate")
        assert latent.animate


def test_capture_panel_posts_commands_instead_of_capturing():
    context = make_context()
    with HeadlessPanel(CaptureWidget(context)) as panel:
        panel.frame()
        record = next(label for label in panel.items if "record" in label.lower())
        panel.click(record)
    assert ("record", True) in list(context.commands)


def test_training_panel_refuses_to_start_without_a_dataset(tmp_path):
    context = make_context()
    session = TrainingSession(tmp_path / "runs.json")
    with HeadlessPanel(TrainingWidget(context, session)) as panel:
        panel.click("Start training")
    assert session.status == "idle" and not session.running
    assert session.messages and session.messages[-1].startswith("cannot start:")


@pytest.mark.parametrize("panel_class", [RenderWidget, PerformanceWidget, LatentWidget, PoseWidget, CameraWidget])
def test_panels_draw_for_an_untrained_model_with_failed_extras(panel_class):
    context = make_context()
    info = context.info
    info.untrained = True
    info.extras = {"errors": {"predicted_pose": "this checkpoint keeps no pose branch"}}
    info.render_ms.extend([3.0, 5.0])
    info.gui_fps.extend([60.0, 59.0])
    context.state.pose.use_predicted_pose = True
    with HeadlessPanel(panel_class(context)) as panel:
        panel.frame(3)
        assert panel.content_height > 100.0, "the panel drew its content"
