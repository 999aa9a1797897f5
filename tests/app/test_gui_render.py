"""The real window under Xvfb, driven by the ImGui Test Engine, rendering the tiny preset inline."""
from __future__ import annotations

import pytest
from imgui_bundle import imgui

from renderer.worker import RenderClient
from tests.app.driver import RecordingClient, differs, make_config, settle, wait_until
from viz.shell.app import VisualizerApp

pytestmark = pytest.mark.gui
CTRL_Z = imgui.Key.z | imgui.Key.mod_ctrl


def make_app(tmp_path, **changes) -> tuple[VisualizerApp, RecordingClient]:
    client = RecordingClient(RenderClient(mode="inline"))
    return VisualizerApp(make_config(tmp_path, **changes), client=client), client


def is_disabled(ctx, ref: str) -> bool:
    return bool(ctx.item_info(ref).item_flags & imgui.ItemFlags_.disabled)


def test_camera_and_seed_edits_render_new_images_and_undo_restores_them(tmp_path):
    app, client = make_app(tmp_path)
    seen = {}

    def drive(ctx):
        front = settle(ctx, app)
        seen["texture"] = (app.texture.uploads, app.texture.size, front.shape)
        seen["reset disabled at default"] = is_disabled(ctx, "//Camera/Reset##yaw")
        before_drag = len(client.submitted)
        ctx.item_drag_with_delta("//Camera/Yaw", (30, 0))
        turned = settle(ctx, app)
        seen["yaw"] = app.state.camera.yaw_deg
        seen["previews"] = [request.preview for request in client.submitted[before_drag:]]
        seen["turned"] = differs(front, turned)
        seen["reset disabled after edit"] = is_disabled(ctx, "//Camera/Reset##yaw")

        ctx.window_focus("//Latent")
        ctx.item_input_value("//Latent/Seed", 7)
        reseeded = settle(ctx, app)
        seen["seed"] = app.state.latent.seed
        seen["reseeded"] = differs(turned, reseeded)

        ctx.key_press(CTRL_Z)
        seen["after first undo"] = differs(turned, settle(ctx, app))
        ctx.key_press(CTRL_Z)
        seen["after second undo"] = differs(front, settle(ctx, app))
        seen["undone"] = (app.state.camera.yaw_deg, app.state.latent.seed)

    app.run(drive)
    uploads, texture_size, image_shape = seen["texture"]
    assert uploads >= 1 and texture_size == (image_shape[1], image_shape[0])
    assert seen["reset disabled at default"] and not seen["reset disabled after edit"]
    assert 1.0 < seen["yaw"] < 179.0, "dragging the yaw slider right turns the camera (without wrapping)"
    assert seen["previews"][0] is True and seen["previews"][-1] is False, "previews while dragging, then full quality"
    assert seen["turned"] > 1.0, "a new yaw renders a different image"
    assert seen["seed"] == 7 and seen["reseeded"] > 1.0, "a new seed renders a different image"
    assert seen["after first undo"] == 0.0 and seen["after second undo"] == 0.0, (
        "deterministic: undo gives the same pixels")
    assert seen["undone"] == (0.0, 0)


def test_saved_state_reloads_to_the_same_image(tmp_path):
    state_file = tmp_path / "saved.json"
    app, _ = make_app(tmp_path, state_file=None)
    app.controller.state_path = state_file
    seen = {}

    def drive(ctx):
        settle(ctx, app)
        ctx.item_input_value("//Camera/Pitch", 12.0)
        ctx.item_input_value("//Latent/Seed", 3)
        saved = settle(ctx, app)
        seen["saved image"] = saved
        ctx.key_press(imgui.Key.s | imgui.Key.mod_ctrl)
        ctx.yield_(2)
        seen["saved file"] = state_file.exists()
        ctx.item_input_value("//Latent/Seed", 11)
        other = settle(ctx, app)
        seen["other"] = differs(saved, other)
        ctx.key_press(imgui.Key.o | imgui.Key.mod_ctrl)
        seen["reloaded"] = differs(saved, settle(ctx, app))
        seen["state"] = (app.state.camera.pitch_deg, app.state.latent.seed)

    app.run(drive)
    assert seen["saved file"] and seen["other"] > 1.0
    assert seen["reloaded"] == 0.0
    assert seen["state"] == (12.0, 3)

    # A new session started with --state shows the same picture.
    second, _ = make_app(tmp_path / "second", state_file=state_file)
    images = {}

    def first_image(ctx):
        images["restarted"] = settle(ctx, second)

    second.run(first_image)
    assert (second.state.camera.pitch_deg, second.state.latent.seed) == (12.0, 3)
    assert differs(images["restarted"], seen["saved image"]) == 0.0


def test_corrupt_checkpoint_shows_an_error_and_the_old_model_keeps_rendering(tmp_path):
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"this is not a checkpoint")
    app, _ = make_app(tmp_path)
    seen = {}

    def drive(ctx):
        before = settle(ctx, app)
        ctx.window_focus("//Model")
        ctx.item_input_value("//Model/##checkpoint path", str(corrupt))
        ctx.item_click("//Model/Open")
        wait_until(ctx, lambda: app.info.last_message and app.info.last_message[0] == "error", 30, "the error message")
        seen["message"] = app.info.last_message[1]
        seen["checkpoint"] = app.state.checkpoint
        ctx.item_input_value("//Camera/Yaw", 45.0)
        seen["still rendering"] = differs(before, settle(ctx, app))

    app.run(drive)
    assert "corrupt.pt" in seen["message"] and "still showing preset:tiny" in seen["message"]
    assert seen["checkpoint"] == "preset:tiny"
    assert seen["still rendering"] > 1.0


@pytest.mark.slow
def test_neck_slider_warps_the_head_and_changes_the_image(tmp_path):
    app, client = make_app(tmp_path)
    seen = {}

    def drive(ctx):
        upright = settle(ctx, app)
        # The exact warp costs seconds per pose on CPU; the cached grid costs more to build for a single pose.
        ctx.window_focus("//Render")
        ctx.item_click("//Render/exact")
        settle(ctx, app)
        ctx.window_focus("//Pose")
        ctx.item_input_value("//Pose/Neck nod", 20.0)
        bent = settle(ctx, app, timeout_s=240)
        seen["difference"] = differs(upright, bent)
        seen["result"] = client.results[-1]
        seen["reset neck enabled"] = not is_disabled(ctx, "//Pose/Reset neck")

    app.run(drive)
    result = seen["result"]
    assert result.error is None
    assert result.request.pose_deg[0] == 20.0 and result.request.warp_mode == "exact"
    assert result.timings_ms.get("warp", 0.0) > 1.0, "a posed neck runs the body warp"
    assert seen["difference"] > 1.0
    assert seen["reset neck enabled"]


def test_camera_convention_and_fine_sampler_choices_reach_the_renderer(tmp_path):
    app, client = make_app(tmp_path)
    seen = {}

    def drive(ctx):
        project = settle(ctx, app)
        ctx.window_focus("//Camera")
        ctx.set_ref("//Camera")
        ctx.combo_click("Convention/reference (authors' cameras)")
        reference_camera = settle(ctx, app)
        seen["camera"] = (app.state.camera.convention, client.submitted[-1].camera_convention,
                          differs(project, reference_camera))
        ctx.window_focus("//Render")
        ctx.set_ref("//Render")
        ctx.combo_click("Fine sampler/reference")
        reference_sampler = settle(ctx, app)
        seen["sampler"] = (app.state.render.importance_sampler, client.submitted[-1].importance_sampler,
                           differs(reference_camera, reference_sampler))

    app.run(drive)
    convention, sent, changed = seen["camera"]
    assert convention == sent == "reference" and changed > 0.0, "the authors' camera sees the subject differently"
    sampler, sent, changed = seen["sampler"]
    assert sampler == sent == "reference" and changed > 0.0, "the authors' sampler places the fine samples elsewhere"


def test_refine_when_idle_steps_up_and_an_edit_starts_over_at_full_quality(tmp_path):
    from viz.shell.menus import shown_quality

    app, client = make_app(tmp_path)
    seen = {}

    def drive(ctx):
        full = settle(ctx, app)
        seen["before"] = shown_quality(app.info.shown_request)
        ctx.window_focus("//Render")
        ctx.item_click("//Render/Refine when idle")
        wait_until(ctx, lambda: app.info.shown_request.refinement == 2, 60, "two refinement steps")
        seen["levels"] = [request.refinement for request in client.submitted]
        seen["refined"] = (shown_quality(app.info.shown_request), differs(full, app.controller.last_image))
        ctx.window_focus("//Latent")
        ctx.item_input_value("//Latent/Seed", 5)
        wait_until(ctx, lambda: app.info.shown_request.seeds[0][0] == 5, 60, "the new seed")
        seen["after edit"] = app.info.shown_request.refinement
        wait_until(ctx, lambda: app.info.shown_request.refinement == 2, 60, "the new seed refined")

    app.run(drive)
    assert seen["before"] == "full"
    assert seen["levels"][-2:] == [1, 2], "2x samples, then 2x rays"
    quality, changed = seen["refined"]
    assert quality == "refined: 2x samples, 2x rays" and changed > 0.0
    assert seen["after edit"] in (0, 1), "an edit is shown at full quality first, not after the old refinement"
