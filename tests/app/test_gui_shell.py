"""The window's own behaviour with a fake renderer: orbit and zoom in the view, keys, presentation mode,
window title, dropping a file, the menu."""
from __future__ import annotations

import glfw
import numpy as np
import pytest
from imgui_bundle import hello_imgui, imgui
from PIL import Image

from tests.app.driver import GUI_WINDOW_SIZE, differs, make_config, settle, wait_until
from tests.fakes import PREDICTED_POSE_DEG, FakeClient
from viz.shell.app import VisualizerApp
from viz.shell.viewport import ORBIT_DEG_PER_PIXEL, ZOOM_PER_WHEEL_STEP
from widgets.latent_widget import GRID_CELLS_SHOWN

pytestmark = pytest.mark.gui


def test_view_mouse_keys_presentation_title_and_drop(tmp_path):
    client = FakeClient()
    app = VisualizerApp(make_config(tmp_path), client=client)
    dropped = tmp_path / "dropped.pt"
    seen = {}

    def panels_visible() -> list[bool]:
        windows = hello_imgui.get_runner_params().docking_params.dockable_windows
        return [window.is_visible for window in windows if window.label != "View"]

    def drive(ctx):
        front = settle(ctx, app)
        seen["title"] = glfw.get_window_title(app._glfw_window())

        sent_before = len(client.submitted)
        ctx.item_drag_with_delta("//View/render view", (-100, 40))
        orbit = settle(ctx, app)
        seen["orbit"] = (app.state.camera.yaw_deg, app.state.camera.pitch_deg)
        seen["orbit previews"] = [request.preview for request in client.submitted[sent_before:]]
        seen["orbit changed image"] = differs(front, orbit)

        fov = app.state.camera.fov_deg
        ctx.mouse_move("//View/render view")
        sent_before = len(client.submitted)
        ctx.mouse_wheel_y(1.0)
        wait_until(ctx, lambda: not app.viewport.dragging, 10, "the zoom to settle")
        settle(ctx, app)
        seen["zoom"] = (fov, app.state.camera.fov_deg)
        seen["zoom previews"] = [request.preview for request in client.submitted[sent_before:]]

        ctx.key_press(imgui.Key.f)
        ctx.yield_(2)
        seen["front key"] = (app.state.camera.yaw_deg, app.state.camera.pitch_deg)
        ctx.key_press(imgui.Key.right_arrow)
        ctx.yield_(2)
        seen["arrow key"] = app.state.camera.yaw_deg

        ctx.key_press(imgui.Key.p)
        ctx.yield_(3)
        seen["presentation"] = panels_visible()
        ctx.key_press(imgui.Key.p)
        ctx.yield_(3)
        seen["after presentation"] = panels_visible()

        ctx.menu_click("//##MainMenuBar/Edit/Undo")
        ctx.yield_(3)
        seen["menu undo"] = app.state.camera.yaw_deg

        ctx.window_focus("//Latent")
        grid = ctx.item_info("//Latent/Seed grid").rect_full
        cell = (grid.max.x - grid.min.x) / GRID_CELLS_SHOWN
        ctx.item_drag_with_delta("//Latent/Seed grid", (-cell / 2, 0))
        settle(ctx, app)
        seen["grid point"] = (app.state.latent.seed_x, app.state.latent.seed_y)
        seen["blended seeds"] = client.submitted[-1].seeds

        ctx.window_focus("//Pose")
        ctx.item_check("//Pose/Show predicted pose")
        wait_until(ctx, lambda: "predicted_pose" in app.info.extras, 10, "the predicted pose")
        ctx.item_click("//Pose/Apply predicted pose")
        ctx.yield_(2)
        seen["applied pose"] = app.state.pose.degrees()

        ctx.window_focus("//Capture")
        ctx.item_click("//Capture/Save PNG")
        ctx.item_check("//Capture/Whole window")
        ctx.item_click("//Capture/Save PNG")
        ctx.yield_(3)
        seen["shown image"] = app.controller.last_image.copy()

        app._on_drop(None, [str(dropped)])
        wait_until(ctx, lambda: app.info.active_checkpoint == str(dropped), 10, "the dropped checkpoint")
        ctx.yield_(3)
        seen["dropped title"] = glfw.get_window_title(app._glfw_window())

    app.run(drive)
    assert seen["title"] == "Portrait visualizer - preset:tiny (untrained)"
    yaw, pitch = seen["orbit"]
    assert yaw == pytest.approx(100 * ORBIT_DEG_PER_PIXEL, abs=3.0), "dragging left turns the camera to the left"
    assert pitch == pytest.approx(40 * ORBIT_DEG_PER_PIXEL, abs=3.0)
    assert seen["orbit previews"][0] is True and seen["orbit previews"][-1] is False
    assert seen["orbit changed image"] > 1.0
    before, after = seen["zoom"]
    assert after == pytest.approx(before * ZOOM_PER_WHEEL_STEP, rel=1e-4), "scrolling up zooms in"
    assert seen["zoom previews"] == [True, False], "a preview while scrolling, then one full render"
    assert seen["front key"] == (0.0, 0.0) and seen["arrow key"] == 15.0
    assert not any(seen["presentation"]) and all(seen["after presentation"])
    assert seen["menu undo"] == 0.0, "Edit > Undo goes back to the front view before the arrow key"
    seed_x, seed_y = seen["grid point"]
    assert 0.3 < seed_x < 0.7 and seed_y == 0.0, "dragging left by half a cell moves half way to seed 1"
    assert [seed for seed, _ in seen["blended seeds"]] == [0, 1]
    assert sum(weight for _, weight in seen["blended seeds"]) == pytest.approx(1.0)
    assert seen["applied pose"] == PREDICTED_POSE_DEG
    captures = tmp_path / "data" / "captures"
    [render_png] = captures.glob("render-*.png")
    [window_png] = captures.glob("window-*.png")
    np.testing.assert_array_equal(np.asarray(Image.open(render_png)), seen["shown image"])
    assert Image.open(window_png).size == GUI_WINDOW_SIZE
    assert app.state.ui.recent_checkpoints[0] == str(dropped)
    assert seen["dropped title"] == "Portrait visualizer - dropped.pt (untrained)"
