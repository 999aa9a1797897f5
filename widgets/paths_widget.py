"""Paths panel: record keyframes from the current view, edit them, presets, save/load, play, render to MP4."""
from __future__ import annotations

from pathlib import Path

from imgui_bundle import imgui

from core.paths import EASINGS, Keyframe
from viz.context import WidgetContext
from viz.path_session import PathSession
from widgets.common import em, help_marker, option_combo, section

PRESET_BUTTONS = (("Turntable", "turntable"), ("Nod", "nod"), ("Shake", "shake"), ("Look around", "lookaround"),
                  ("Seed morph", "morph"))
LIST_ROWS = 4  # keyframe rows visible before the list scrolls


def describe(index: int, key: Keyframe) -> str:
    """One line of the keyframe list: time, camera, pose and identity."""
    if key.latent is not None and key.latent.file is not None:
        identity = f"latent {Path(key.latent.file).name}"
    else:
        identity = "seed " + ("+".join(str(seed) for seed, _ in key.latent.seeds) if key.latent is not None else "-")
    posed = " posed" if any(key.pose_deg) else ""
    return (f"{index:2d}  {key.time_s:5.2f} s  yaw {key.camera.yaw_deg:6.1f}  pitch {key.camera.pitch_deg:5.1f}  "
            f"{identity}{posed}")


class PathsWidget:
    """Edits the path held by `session` (a PathSession); playback writes the AppState through it."""

    def __init__(self, context: WidgetContext, session: PathSession):
        self.context = context
        self.session = session

    def __call__(self) -> None:
        self._recorder()
        self._keyframe_list()
        self._selected_keyframe()
        self._presets_and_file()
        self._playback()
        self._render()

    def _recorder(self) -> None:
        session = self.session
        if imgui.button("Add keyframe"):
            session.add_keyframe()
        imgui.same_line()
        imgui.set_next_item_width(em(5))
        changed, duration = imgui.input_float("after (s)", session.key_duration_s, 0.0, 0.0, "%.2f")
        if changed and duration > 0:
            session.key_duration_s = float(duration)
        help_marker("Adds the current camera, pose and latent this many seconds after the last keyframe.")

    def _keyframe_list(self) -> None:
        session = self.session
        keys = session.path.keyframes if session.path is not None else ()
        height = imgui.get_text_line_height_with_spacing() * LIST_ROWS + em(0.5)
        imgui.begin_child("keyframes", (-1, height), imgui.ChildFlags_.borders)
        if not keys:
            imgui.text_disabled("no keyframes: Add keyframe, or a preset below")
        for index, key in enumerate(keys):
            if imgui.selectable(f"{describe(index, key)}##key{index}", index == session.selected)[0]:
                session.selected = index
        imgui.end_child()

    def _selected_keyframe(self) -> None:
        session = self.session
        if session.path is None:
            return
        index = session.selected
        key = session.path.keyframes[index]
        imgui.begin_disabled(index == 0)
        imgui.set_next_item_width(em(6))
        previous = session.path.keyframes[index - 1].time_s if index else 0.0
        changed, duration = imgui.input_float("Duration (s)", key.time_s - previous, 0.1, 0.5, "%.2f")
        if changed:
            session.set_duration(index, float(duration))
        imgui.same_line()
        label_room = imgui.calc_text_size("Easing").x + imgui.get_style().item_inner_spacing.x
        imgui.set_next_item_width(max(em(4), imgui.get_content_region_avail().x - label_room))
        easing = option_combo("Easing", key.easing, EASINGS)
        if easing != key.easing:
            session.set_easing(index, easing)
        imgui.end_disabled()
        last = len(session.path.keyframes) - 1
        for label, offset, blocked in (("Up", -1, index == 0), ("Down", 1, index == last)):
            imgui.begin_disabled(blocked)
            if imgui.button(label):
                session.move(index, offset)
            imgui.end_disabled()
            imgui.same_line()
        if imgui.button("Go to"):
            session.go_to(index)
        imgui.same_line()
        if imgui.button("Delete"):
            session.delete(index)
        imgui.same_line()
        if imgui.button("Clear all"):
            session.clear()

    def _presets_and_file(self) -> None:
        session = self.session
        section("Presets")
        width = (imgui.get_content_region_avail().x - imgui.get_style().item_spacing.x * 2) / 3
        for index, (label, name) in enumerate(PRESET_BUTTONS):
            if index % 3:
                imgui.same_line()
            if imgui.button(label, (width, 0)):
                session.apply_preset(name)
        imgui.spacing()
        imgui.set_next_item_width(-em(6.5))
        _, session.file = imgui.input_text_with_hint("##path file", "path.json", session.file)
        imgui.set_item_tooltip("The path as JSON; python -m core.generate video --path FILE.json reads it")
        imgui.same_line()
        if imgui.button("Save"):
            session.save()
        imgui.same_line()
        if imgui.button("Load"):
            session.load()

    def _playback(self) -> None:
        session, player = self.session, self.session.player
        section("Preview")
        imgui.begin_disabled(session.path is None)
        if not player.holds_saved_state:
            if imgui.button("Play"):
                session.play()
        elif imgui.button("Stop"):
            session.stop()
        imgui.end_disabled()
        imgui.same_line()
        _, player.loop = imgui.checkbox("Loop", player.loop)
        imgui.same_line()
        duration = session.path.duration_s if session.path is not None else 0.0
        fraction = player.time_s / duration if duration > 0 else 0.0
        imgui.progress_bar(fraction, (-1, 0), f"{player.time_s:.2f} / {duration:.2f} s")
        if player.holds_saved_state:
            imgui.text_disabled("Stop puts back the view from before playback")

    def _render(self) -> None:
        session, video = self.session, self.session.video
        section("Render to file")
        imgui.set_next_item_width(em(2.5))
        changed, fps = imgui.input_int("fps", video.fps, 0, 0)
        if changed:
            video.fps = min(120, max(1, fps))
        imgui.same_line()
        imgui.set_next_item_width(em(3))
        changed, seconds = imgui.input_float("seconds", video.seconds, 0.0, 0.0, "%.1f")
        if changed:
            video.seconds = max(0.0, float(seconds))
        imgui.set_item_tooltip("0 = the path's own length. A looping path leaves out its last keyframe (= the first).")
        imgui.same_line()
        imgui.set_next_item_width(em(3.5))
        changed, resolution = imgui.input_int("resolution", video.resolution, 0, 0)
        if changed:
            video.resolution = max(0, resolution - resolution % 2)  # MP4 frames need even sides
        imgui.set_item_tooltip("Pixels per side; 0 = the model's output size.")
        imgui.set_next_item_width(-1)
        _, video.out_file = imgui.input_text_with_hint("##video file", "output .mp4 (empty: capture folder)",
                                                      video.out_file)
        if session.rendering:
            status = session.job_status
            imgui.progress_bar(status.fraction, (-em(6), 0), status.message or status.state)
            imgui.same_line()
            if imgui.button("Cancel"):
                session.cancel_render()
        else:
            imgui.begin_disabled(session.path is None)
            if imgui.button("Render path to MP4"):
                session.start_render()
            imgui.end_disabled()
            status = session.job_status
            if status is not None:
                imgui.same_line()
                imgui.text_wrapped(status.message if status.state != "error" else f"failed: {status.error}")
