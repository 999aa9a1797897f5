"""Model panel: open a checkpoint (path, file dialog, recent list, drag and drop) and show what it is."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

from imgui_bundle import imgui, portable_file_dialogs

from viz.context import WidgetContext
from widgets.common import help_marker

CHECKPOINT_FILTERS = ["Checkpoints (.pt)", "*.pt *.pth", "All files", "*"]
PRESET_CHOICES = ("preset:tiny", "preset:small")  # randomly initialised models that need no file


class CheckpointWidget:
    """Sets `state.checkpoint`; the app validates it by rendering and falls back to the old model on error."""

    def __init__(self, context: WidgetContext):
        self.context = context
        self.path_input = context.state.checkpoint  # text being typed, applied on Enter or "Open"
        self._shown_checkpoint = context.state.checkpoint  # the state's checkpoint when path_input was last synced
        self._dialog = None  # a running portable file dialog, polled every frame
        # portable_file_dialogs needs zenity or kdialog on Linux; without them the button explains why.
        self._dialog_available = bool(
            shutil.which("zenity") or shutil.which("kdialog") or not sys.platform.startswith("linux")
        )

    def open(self, checkpoint: str) -> None:
        """Switches to `checkpoint` (a path or "preset:<name>")."""
        checkpoint = checkpoint.strip()
        if not checkpoint:
            return
        if not checkpoint.startswith("preset:"):
            checkpoint = str(Path(checkpoint).expanduser())
        self.context.state.checkpoint = checkpoint
        self.path_input = checkpoint
        self.context.info.message(f"opening {checkpoint}")

    def __call__(self) -> None:
        self._poll_dialog()
        state, info = self.context.state, self.context.info
        if state.checkpoint != self._shown_checkpoint:
            # Undo, a state file or a rejected checkpoint changed the model: show its path, drop stale typing.
            self.path_input = self._shown_checkpoint = state.checkpoint
        imgui.set_next_item_width(-1)
        entered, self.path_input = imgui.input_text(
            "##checkpoint path", self.path_input, imgui.InputTextFlags_.enter_returns_true
        )
        if entered or imgui.button("Open"):
            self.open(self.path_input)
        imgui.same_line()
        imgui.begin_disabled(not self._dialog_available or self._dialog is not None)
        if imgui.button("Browse..."):
            start = str(Path(state.checkpoint).parent) if not state.checkpoint.startswith("preset:") else ""
            self._dialog = portable_file_dialogs.open_file("Open checkpoint", start, CHECKPOINT_FILTERS)
        imgui.end_disabled()
        if not self._dialog_available:
            imgui.set_item_tooltip("No file dialog: install zenity or kdialog, or type the path")
        for preset in PRESET_CHOICES:
            imgui.same_line()
            if imgui.small_button(preset.removeprefix("preset:")):
                self.open(preset)
        help_marker("Drop a .pt file onto the window to open it. Presets are randomly initialised (untrained).")

        if state.ui.recent_checkpoints and imgui.tree_node("Recent"):
            for recent in state.ui.recent_checkpoints:
                if imgui.selectable(recent, recent == info.active_checkpoint)[0]:
                    self.open(recent)
            imgui.tree_pop()

        imgui.separator_text("Model")
        model = info.model_info
        if not model:
            imgui.text_disabled("waiting for the first render...")
            return
        rows = [
            ("checkpoint", info.active_checkpoint or state.checkpoint),
            ("preset", model.get("preset", "?")),
            ("resolution", model.get("resolution", "?")),
            ("kimg", model.get("kimg", "?")),
            ("dataset", model.get("dataset", "?")),
            ("device", model.get("device", info.device)),
        ]
        if imgui.begin_table("model info", 2):
            imgui.table_setup_column("field", imgui.TableColumnFlags_.width_fixed)
            imgui.table_setup_column("value", imgui.TableColumnFlags_.width_stretch)
            for name, value in rows:
                imgui.table_next_row()
                imgui.table_next_column()
                imgui.text_disabled(name)
                imgui.table_next_column()
                imgui.text_wrapped(str(value))
            imgui.end_table()
        if info.untrained:
            imgui.text_colored((1.0, 0.7, 0.2, 1.0), "untrained: randomly initialised stand-in")

    def _poll_dialog(self) -> None:
        """Takes the file dialog's answer once it is ready (the dialog runs in its own process)."""
        if self._dialog is None or not self._dialog.ready(0):
            return
        chosen = self._dialog.result()
        self._dialog = None
        if chosen:
            self.open(chosen[0])

