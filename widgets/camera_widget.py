"""Camera panel: orbit yaw/pitch, zoom, radius, look-at, view buttons, turntable, conditioning camera."""
from __future__ import annotations

import dataclasses

from imgui_bundle import imgui

from viz.context import WidgetContext
from viz.state import CAMERA_CONVENTIONS, wrap_degrees
from widgets.common import help_marker, label_width, option_combo, reset_button, section, slider_float

# Named views: yaw of a camera on that side of the subject (90 = the subject's left).
VIEW_BUTTONS = (("Front", 0.0), ("Left", 90.0), ("Back", -180.0), ("Right", -90.0))
PITCH_LIMIT_DEG = 80.0  # beyond this the orbit's up vector flips
FOV_RANGE_DEG = (4.0, 45.0)  # narrow (telephoto) to wide
RADIUS_RANGE = (1.5, 5.0)  # closer than 1.5 enters the render volume


class CameraWidget:
    """Edits `state.camera`."""

    def __init__(self, context: WidgetContext):
        self.context = context

    def __call__(self) -> None:
        camera = self.context.state.camera
        default = self.context.defaults.camera

        label_width()
        changed, yaw = imgui.slider_float("Yaw", camera.yaw_deg, -180.0, 180.0, "%.1f deg")
        if changed:
            camera.yaw_deg = wrap_degrees(yaw)
        imgui.same_line()
        if reset_button("Reset##yaw", camera.yaw_deg, default.yaw_deg):
            camera.yaw_deg = default.yaw_deg

        label_width()
        camera.pitch_deg = slider_float("Pitch", camera.pitch_deg, -PITCH_LIMIT_DEG, PITCH_LIMIT_DEG, "%.1f deg")
        imgui.same_line()
        if reset_button("Reset##pitch", camera.pitch_deg, default.pitch_deg):
            camera.pitch_deg = default.pitch_deg

        for index, (name, yaw_deg) in enumerate(VIEW_BUTTONS):
            if index:
                imgui.same_line()
            if imgui.button(name):
                camera.yaw_deg, camera.pitch_deg = yaw_deg, 0.0
        help_marker("Left/Right: camera on the subject's left/right side. Drag in the view to orbit, scroll to zoom.")

        label_width()
        camera.convention = option_combo("Convention", camera.convention, CAMERA_CONVENTIONS,
                                         ["project (orbit the look-at point)", "reference (authors' cameras)"])
        help_marker("reference builds the render and conditioning cameras as the authors' scripts do: on a sphere "
                    "around the world origin, aimed at the look-at point (docs/released-checkpoints.md).")

        section("Lens")
        label_width()
        camera.fov_deg = slider_float("FOV", camera.fov_deg, *FOV_RANGE_DEG, "%.2f deg")
        imgui.same_line()
        if reset_button("Reset##fov", camera.fov_deg, default.fov_deg):
            camera.fov_deg = default.fov_deg
        label_width()
        camera.radius = slider_float("Radius", camera.radius, *RADIUS_RANGE, "%.2f")
        imgui.same_line()
        if reset_button("Reset##radius", camera.radius, default.radius):
            camera.radius = default.radius
        label_width()
        changed, lookat = imgui.drag_float3("Look-at", list(camera.lookat), 0.002, -1.0, 1.0, "%.3f")
        if changed:
            camera.lookat = tuple(lookat)
        imgui.same_line()
        if reset_button("Reset##lookat", camera.lookat, default.lookat):
            camera.lookat = default.lookat

        section("Turntable")
        _, camera.turntable = imgui.checkbox("Turntable", camera.turntable)
        imgui.same_line()
        imgui.set_next_item_width(-1)
        camera.turntable_speed_deg_s = slider_float(
            "##turntable speed", camera.turntable_speed_deg_s, -180.0, 180.0, "%.0f deg/s"
        )

        section("Conditioning camera")
        _, camera.cond_follow_render = imgui.checkbox("Follow render camera", camera.cond_follow_render)
        help_marker("The mapping network is conditioned on this camera. Frontal (0, 0) gives the most stable identity.")
        imgui.begin_disabled(camera.cond_follow_render)
        label_width()
        camera.cond_yaw_deg = slider_float("Cond. yaw", camera.cond_yaw_deg, -180.0, 180.0, "%.1f deg")
        label_width()
        camera.cond_pitch_deg = slider_float("Cond. pitch", camera.cond_pitch_deg, -60.0, 60.0, "%.1f deg")
        imgui.end_disabled()
        cond_fields = ("cond_follow_render", "cond_yaw_deg", "cond_pitch_deg")
        current = tuple(getattr(camera, name) for name in cond_fields)
        if reset_button("Reset conditioning", current, tuple(getattr(default, name) for name in cond_fields)):
            for name in cond_fields:
                setattr(camera, name, getattr(default, name))

        imgui.spacing()
        if reset_button("Reset camera", camera, default):
            self.context.state.camera = dataclasses.replace(default)
