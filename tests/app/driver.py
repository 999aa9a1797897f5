"""Helpers for GUI tests: build the app for a temporary user folder, wait for renders inside a test function."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import numpy as np
from imgui_bundle import imgui

from viz.shell.app_config import AppConfig

GUI_WINDOW_SIZE = (1280, 800)  # the smallest size the layout is designed for


def make_config(tmp_path: Path, **changes) -> AppConfig:
    """An AppConfig that touches only `tmp_path` (no remembered state, no imgui.ini anywhere)."""
    options = dict(
        checkpoint="preset:tiny", render_mode="inline", config_dir=tmp_path / "config",
        data_dir=tmp_path / "data", remember_state=False, window_size=GUI_WINDOW_SIZE, fps_idle=0.0,
    )
    options.update(changes)
    return AppConfig(**options)


class RecordingClient:
    """Wraps a render client and remembers every submitted request (to check previews and warps)."""

    def __init__(self, client):
        self.client = client
        self.submitted = []
        self.results = []

    restarts = property(lambda self: self.client.restarts)
    busy = property(lambda self: self.client.busy)

    def submit(self, request):
        self.submitted.append(request)
        return self.client.submit(request)

    def poll(self):
        result = self.client.poll()
        if result is not None:
            self.results.append(result)
        return result

    def messages(self):
        return self.client.messages()

    def kill_worker(self):
        self.client.kill_worker()

    def close(self):
        self.client.close()


def wait_until(ctx, condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Yields frames until `condition()` holds; fails the test with `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        ctx.yield_()


def click_until(ctx, ref: str, condition: Callable[[], bool], what: str, tries: int = 4) -> None:
    """Clicks `ref` until `condition()` holds. Rarely the engine's hover check misses a button that is in
    plain view (seen on busy 2-core CI machines); a plain move-and-click does not put the test in the
    engine's error state, so it can be tried again."""
    flags = imgui.test_engine.TestOpFlags_.no_check_hovered_id
    for _ in range(tries):
        ctx.mouse_move(ref, flags)
        ctx.mouse_click(0)
        for _ in range(10):
            if condition():
                return
            ctx.yield_()
    raise AssertionError(f"{tries} clicks on {ref} did not lead to {what}")


def settle(ctx, app, timeout_s: float = 60.0) -> np.ndarray:
    """Waits until the newest request was answered and shown; returns the shown image."""
    ctx.yield_(2)
    wait_until(ctx, lambda: not app.controller.client.busy and app.info.renders > 0, timeout_s, "the render to settle")
    ctx.yield_(3)
    return app.controller.last_image.copy()


def differs(first: np.ndarray, second: np.ndarray) -> float:
    """Mean absolute pixel difference (0 = identical)."""
    return float(np.abs(first.astype(np.int32) - second.astype(np.int32)).mean())
