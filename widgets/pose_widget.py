"""Pose panel: neck and head rotations in degrees (nod, turn, tilt), presets, conditioning pose."""
from __future__ import annotations

from imgui_bundle import imgui

from viz.context import WidgetContext
from viz.state import POSE_LIMIT_DEG
from widgets.common import help_marker, label_width, reset_button, section, slider_float

AXES = ("nod", "turn", "tilt")  # rotation about x (nod: + looks down), y (turn: + toward the subject's left), z (tilt)
ZERO = (0.0, 0.0, 0.0)
# Presets split a motion between neck and head as a person would: the head does a bit more than the neck.
PRESETS = {
    "Look left": ((0.0, 15.0, 0.0), (0.0, 20.0, 0.0)),
    "Look right": ((0.0, -15.0, 0.0), (0.0, -20.0, 0.0)),
    "Look up": ((-10.0, 0.0, 0.0), (-15.0, 0.0, 0.0)),
    "Look down": ((10.0, 0.0, 0.0), (15.0, 0.0, 0.0)),
    "Tilt left": ((0.0, 0.0, -10.0), (0.0, 0.0, -15.0)),
    "Tilt right": ((0.0, 0.0, 10.0), (0.0, 0.0, 15.0)),
}


def joint_sliders(prefix: str, angles: tuple[float, float, float]) -> tuple[float, float, float]:
    """Three degree sliders named e.g. "Neck nod"; returns the new angles."""
    values = list(angles)
    for axis, name in enumerate(AXES):
        label_width()
        values[axis] = slider_float(f"{prefix} {name}", values[axis], -POSE_LIMIT_DEG, POSE_LIMIT_DEG, "%.1f deg")
    return tuple(values)


class PoseWidget:
    """Edits `state.pose`."""

    def __init__(self, context: WidgetContext):
        self.context = context

    def __call__(self) -> None:
        pose = self.context.state.pose

        pose.neck_deg = joint_sliders("Neck", pose.neck_deg)
        if reset_button("Reset neck", pose.neck_deg, ZERO):
            pose.neck_deg = ZERO
        pose.head_deg = joint_sliders("Head", pose.head_deg)
        if reset_button("Reset head", pose.head_deg, ZERO):
            pose.head_deg = ZERO

        section("Presets")
        for index, (name, (neck, head)) in enumerate(PRESETS.items()):
            if index % 2:
                imgui.same_line()
            if imgui.button(name, (imgui.get_content_region_avail().x / 2 - 4 if index % 2 == 0 else -1, 0)):
                pose.neck_deg, pose.head_deg = neck, head

        section("Conditioning pose")
        _, pose.cond_linked = imgui.checkbox("Condition on the rendered pose", pose.cond_linked)
        help_marker("Off: the mapping sees its own pose below, so identity and pose can be varied separately.")
        if not pose.cond_linked:
            pose.cond_neck_deg = joint_sliders("Cond. neck", pose.cond_neck_deg)
            pose.cond_head_deg = joint_sliders("Cond. head", pose.cond_head_deg)
            both = (pose.cond_neck_deg, pose.cond_head_deg)
            if reset_button("Reset conditioning pose", both, (ZERO, ZERO)):
                pose.cond_neck_deg, pose.cond_head_deg = ZERO, ZERO

        _, pose.use_predicted_pose = imgui.checkbox("Show predicted pose", pose.use_predicted_pose)
        help_marker("G: the generator's pose branch for this latent and camera. D: the discriminator's pose head "
                    "reading the shown image (needs a checkpoint that keeps D). Degrees: nod, turn, tilt.")
        if pose.use_predicted_pose:
            extras = self.context.info.extras
            for label, name, button in (("G", "predicted_pose", "Apply predicted pose"),
                                        ("D", "image_pose", "Apply image pose")):
                predicted = extras.get(name)
                if predicted is None:
                    reason = extras.get("errors", {}).get(name, "not returned yet")
                    imgui.text_disabled(f"{label}: {reason[:60]}")
                    continue
                values = [float(value) for value in predicted]
                imgui.text(f"{label} neck " + " ".join(f"{value:+.1f}" for value in values[:3])
                           + "  head " + " ".join(f"{value:+.1f}" for value in values[3:6]))
                if imgui.small_button(button):
                    pose.neck_deg, pose.head_deg = tuple(values[:3]), tuple(values[3:6])
