"""The Invert panel in the real window under Xvfb: a rendered photo is fitted by the worker process, Use shows
the inverted latent, and one Ctrl+Z goes back to the seeds."""
from __future__ import annotations

from pathlib import Path

import pytest
from imgui_bundle import imgui

from core.generate.__main__ import main as generate_main
from renderer.worker import RenderClient
from tests.app.driver import differs, make_config, settle, wait_until
from viz.shell.app import VisualizerApp
from viz.shell.app_config import DEFAULT_CHECKPOINT

pytestmark = pytest.mark.gui
CTRL_Z = imgui.Key.z | imgui.Key.mod_ctrl
FIT_STEPS = 8  # about a second of latent steps on 2 CPU cores: the test is about the panel, not the fit


def rendered_photo(folder: Path) -> Path:
    """A 64x64 photo of seed 3 seen from yaw 30, made by the shipped model (the command line's images)."""
    assert generate_main(["images", "--checkpoint", str(DEFAULT_CHECKPOINT), "--seeds", "3", "--yaw", "30",
                          "--device", "cpu", "--out", str(folder)]) == 0
    return folder / "seed0003.png"


def test_invert_a_photo_use_it_and_undo(tmp_path):
    photo = rendered_photo(tmp_path / "photo")
    client = RenderClient(mode="process", torch_threads=1)
    app = VisualizerApp(make_config(tmp_path, checkpoint=str(DEFAULT_CHECKPOINT), render_mode="process"),
                        client=client)
    seen = {}
    invert = app.controller.invert

    def drive(ctx):
        seeds_image = settle(ctx, app, timeout_s=120)
        ctx.window_focus("//Invert")
        ctx.set_ref("//Invert")
        ctx.item_input_value("Photo", str(photo))
        wait_until(ctx, lambda: not invert.opening, 30, "the photo to be read")  # read on a thread
        seen["opened"] = (invert.photo_path, invert.photo_size, invert.crop.as_tuple())
        ctx.combo_click("Camera/current view")
        ctx.item_input_value("Steps", FIT_STEPS)
        ctx.item_click("Start##invert")
        wait_until(ctx, lambda: invert.preview is not None or not invert.running, 120, "a preview")
        seen["preview while running"] = invert.running
        wait_until(ctx, lambda: not invert.running, 120, "the inversion to finish")
        ctx.yield_(2)
        seen["status"] = invert.status
        seen["fit texture uploads"] = app.panels["Invert"].textures["fit"].uploads
        seen["photo texture uploads"] = app.panels["Invert"].textures["photo"].uploads
        ctx.item_click("Use##invert")
        inverted_image = settle(ctx, app, timeout_s=120)
        seen["used"] = (app.state.latent.latent_file, app.state.checkpoint, app.state.camera.yaw_deg,
                        app.state.pose.degrees())
        seen["shown request"] = app.info.shown_request
        seen["changed"] = differs(seeds_image, inverted_image)
        ctx.key_press(CTRL_Z)
        seen["undone image"] = differs(seeds_image, settle(ctx, app, timeout_s=120))
        seen["undone"] = (app.state.latent.latent_file, app.state.camera.yaw_deg, app.state.pose.degrees())

    app.run(drive)
    assert seen["opened"] == (str(photo), (64, 64), (0, 0, 64)), "typing a path opens it with the centred crop"
    status = seen["status"]
    assert status.state == "done", status.error
    products = status.result
    assert products.report["steps"] == FIT_STEPS and products.report["camera"] == "given"
    assert seen["preview while running"], "the fit's picture arrives while it runs"
    assert products.image is not None and products.image.shape == (64, 64, 3)
    assert seen["fit texture uploads"] >= 1 and seen["photo texture uploads"] >= 1, "both pictures are shown"
    assert Path(products.out_dir).parent == tmp_path / "data" / "captures", "results go to the capture folder"

    latent_file, checkpoint, yaw, pose = seen["used"]
    assert latent_file == products.latent_file == str(Path(products.out_dir) / "latent.npz")
    assert Path(latent_file).is_file() and checkpoint == str(DEFAULT_CHECKPOINT)
    assert yaw == pytest.approx(products.yaw_deg) and pose == pytest.approx(products.pose_deg)
    assert seen["shown request"].latent_file == latent_file, "the viewer renders the inverted latent"
    assert seen["changed"] > 1.0, "the inverted latent looks different from seed 0"
    assert seen["undone"] == (None, 0.0, (0.0,) * 6), "one Ctrl+Z goes back to the seeds, camera and pose"
    # The first frame of a tri-grid is marched in full, later ones skip its empty cells: equal but for rounding.
    assert seen["undone image"] < 0.25 < 1.0 < seen["changed"], "undo shows seed 0 again"
