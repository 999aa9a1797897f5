"""The operating system's Open dialog without blocking the frame loop (imgui-bundle's portable-file-dialogs).

`pfd.open_file` runs the dialog on its own; the panel keeps the dialog object and asks `.ready()` every
frame. On Linux it needs one of zenity, matedialog, qarma or kdialog: without one (a bare X server, Xvfb) the
dialog would return nothing at once, indistinguishable from Cancel, so `open` says what to install instead.
"""
from __future__ import annotations

import shutil
import sys

LINUX_DIALOG_HELPERS = ("zenity", "matedialog", "qarma", "kdialog")  # the programs portable-file-dialogs drives
IMAGE_FILTERS = ["Images", "*.png *.jpg *.jpeg *.webp *.bmp", "All files", "*"]


def native_dialog_problem() -> str | None:
    """Why the native dialog cannot open here, or None when it can."""
    try:
        from imgui_bundle import portable_file_dialogs  # noqa: F401 - only its presence is checked
    except ImportError:
        return "this imgui-bundle has no native file dialogs; type the path instead"
    if sys.platform.startswith("linux") and not any(shutil.which(name) for name in LINUX_DIALOG_HELPERS):
        return "no file dialog program found (install zenity or kdialog); type the path instead"
    return None


class OpenFileDialog:
    """One native Open dialog at a time; `poll()` hands back the chosen path once, then forgets the dialog."""

    def __init__(self, title: str, filters: list[str] | None = None):
        self.title = title
        self.filters = list(filters or IMAGE_FILTERS)
        self._dialog = None  # the pfd.open_file being shown

    @property
    def is_open(self) -> bool:
        return self._dialog is not None

    def open(self, start_path: str = "") -> str | None:
        """Show the dialog (it runs beside the GUI); returns why it cannot, or None."""
        if self._dialog is not None:
            return None
        problem = native_dialog_problem()
        if problem is not None:
            return problem
        from imgui_bundle import portable_file_dialogs as pfd  # lazy: only once a native dialog can run here

        self._dialog = pfd.open_file(self.title, start_path, self.filters)
        return None

    def poll(self) -> str | None:
        """The chosen file when the dialog has just closed with one; None while it is open or after Cancel."""
        if self._dialog is None or not self._dialog.ready(0):
            return None
        chosen = self._dialog.result()
        self._dialog = None
        return chosen[0] if chosen else None
