"""The GUI never waits for the renderer: a killed worker is replaced, a slow one does not stall the frame loop."""
from __future__ import annotations

import time

import numpy as np
import pytest

from renderer.worker import RenderClient
from tests.app.driver import RecordingClient, make_config, settle, wait_until
from tests.fakes import FakeClient
from viz.shell.app import VisualizerApp

pytestmark = pytest.mark.gui
FRAME_BUDGET_MS = 1000.0 / 30.0  # the loop must be able to run at 30 fps while the worker renders


@pytest.mark.slow
def test_killed_worker_is_restarted_and_rendering_goes_on(tmp_path):
    client = RecordingClient(RenderClient(mode="process", torch_threads=1))
    app = VisualizerApp(make_config(tmp_path, render_mode="process"), client=client)
    seen = {}

    def drive(ctx):
        settle(ctx, app, timeout_s=180)
        renders = app.info.renders
        client.kill_worker()
        ctx.item_input_value("//Camera/Yaw", 90.0)
        wait_until(ctx, lambda: app.info.renders > renders and not client.busy, 180, "a render from the new worker")
        seen["restarts"] = client.restarts
        seen["messages"] = [text for _, text in app.info.messages]
        seen["yaw of shown image"] = client.results[-1].request.yaw_deg

    app.run(drive)
    assert seen["restarts"] >= 1
    assert any("restarted" in text for text in seen["messages"]), seen["messages"]
    assert seen["yaw of shown image"] == 90.0


def test_gui_loop_keeps_running_while_a_slow_renderer_is_busy(tmp_path):
    client = FakeClient(delay_s=2.0)
    app = VisualizerApp(make_config(tmp_path), client=client)
    seen = {}

    def drive(ctx):
        settle(ctx, app, timeout_s=30)
        ctx.item_input_value("//Camera/Yaw", 30.0)
        started = time.monotonic()
        app.info.frame_work_ms.clear()
        wait_until(ctx, lambda: not client.busy, 30, "the slow render")
        busy_s = time.monotonic() - started
        seen["frames while busy"] = len(app.info.frame_work_ms)
        seen["busy seconds"] = busy_s
        seen["work ms"] = np.asarray(app.info.frame_work_ms)

    app.run(drive)
    work = seen["work ms"]
    # Drawing itself runs in llvmpipe on these CPU-only machines (30-60 ms per 1280x800 frame on 2 busy cores),
    # so the budget is checked on the loop's own work: a loop that waited for the worker would show ~2000 ms.
    assert seen["frames while busy"] >= 3, seen  # a loop blocked by the render would draw at most one
    assert np.percentile(work, 90) < FRAME_BUDGET_MS, f"GUI work per frame {np.percentile(work, 90):.1f} ms"
    print(f"GUI while busy: {seen['frames while busy'] / seen['busy seconds']:.1f} fps (llvmpipe), "
          f"median work {np.median(work):.1f} ms")
