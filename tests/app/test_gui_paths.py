"""The Paths panel in the real window under Xvfb: record keyframes, play them back, render the path to MP4."""
from __future__ import annotations

import imageio.v3 as iio
import numpy as np
import pytest

from core.generate.__main__ import main as generate_main
from core.paths import load_path
from renderer.worker import RenderClient
from tests.app.driver import make_config, settle, wait_until
from viz.shell.app import VisualizerApp

pytestmark = pytest.mark.gui


def test_record_play_and_render_a_path(tmp_path):
    client = RenderClient(mode="inline")
    app = VisualizerApp(make_config(tmp_path), client=client)
    video, path_file = tmp_path / "recorded.mp4", tmp_path / "recorded.json"
    seen = {}
    paths = app.controller.paths

    def drive(ctx):
        settle(ctx, app)
        ctx.window_focus("//Paths")
        ctx.item_click("//Paths/Add keyframe")
        ctx.window_focus("//Camera")
        ctx.item_input_value("//Camera/Yaw", 60.0)
        ctx.item_input_value("//Camera/Pitch", 15.0)
        ctx.window_focus("//Latent")
        ctx.item_input_value("//Latent/Seed", 7)
        ctx.window_focus("//Paths")
        ctx.item_click("//Paths/Add keyframe")
        seen["keys"] = paths.path.keyframes
        ctx.window_focus("//Pose")
        ctx.item_input_value("//Pose/Neck nod", 20.0)
        ctx.window_focus("//Paths")
        ctx.item_click("//Paths/Add keyframe")
        seen["posed key"] = paths.path.keyframes[-1]
        ctx.item_click("//Paths/Delete")  # the new keyframe is selected; a posed path would be slow to film here
        seen["after delete"] = paths.path.keyframes
        settle(ctx, app)
        seen["before play"] = (app.state.camera.yaw_deg, app.state.camera.pitch_deg, app.state.latent.seed,
                               app.state.pose.neck_deg)

        ctx.item_click("//Paths/Play")
        yaws = []
        wait_until(ctx, lambda: yaws.append(app.state.camera.yaw_deg) or len(set(yaws)) >= 4, 30, "playback frames")
        seen["played yaws"] = sorted(set(yaws))
        seen["renders while playing"] = app.info.renders
        ctx.item_click("//Paths/Stop")
        ctx.yield_(2)
        seen["after stop"] = (app.state.camera.yaw_deg, app.state.camera.pitch_deg, app.state.latent.seed,
                              app.state.pose.neck_deg)

        ctx.item_input_value("//Paths/##path file", str(path_file))
        ctx.item_click("//Paths/Save")
        ctx.item_input_value("//Paths/fps", 4)
        ctx.item_input_value("//Paths/resolution", 32)
        ctx.item_input_value("//Paths/##video file", str(video))
        ctx.item_click("//Paths/Render path to MP4")
        wait_until(ctx, lambda: paths.job_status is not None and paths.job_status.finished, 60, "the video")
        seen["job"] = paths.job_status
        seen["renders"] = app.info.renders

    app.run(drive)
    first, second = seen["keys"]
    assert (first.camera.yaw_deg, first.latent.seeds) == (0.0, ((0, 1.0),))
    assert (second.time_s, second.camera.yaw_deg, second.camera.pitch_deg) == (1.0, 60.0, 15.0)
    assert second.latent.seeds == ((7, 1.0),)
    posed = seen["posed key"]
    assert (posed.time_s, posed.pose_deg, posed.camera.yaw_deg) == (2.0, (20.0, 0, 0, 0, 0, 0), 60.0)
    assert seen["after delete"] == seen["keys"]
    yaws = seen["played yaws"]
    assert len(yaws) >= 4 and all(0.0 <= yaw <= 60.0 for yaw in yaws), "playback moves the camera along the path"
    assert seen["after stop"] == seen["before play"] == (60.0, 15.0, 7, (20.0, 0.0, 0.0)), \
        "Stop restores the state before playback"

    job = seen["job"]
    assert job.state == "done", job.error
    frames = iio.imread(video)
    assert frames.shape == (4, 32, 32, 3) and job.result.frames == 4
    assert load_path(path_file).keyframes == seen["keys"]
    cli_video = tmp_path / "cli.mp4"
    # The video is conditioned as the viewer was (at the rest pose, its default): --cond-pose says so.
    assert generate_main(["video", "--checkpoint", "preset:tiny", "--path", str(path_file), "--fps", "4",
                          "--resolution", "32", "--device", "cpu", "--cond-pose=0,0,0,0,0,0",
                          "--out", str(cli_video)]) == 0
    assert np.array_equal(iio.imread(cli_video), frames), "the panel's video has the command line's pixels"
