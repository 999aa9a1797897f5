"""Path-render jobs in the render worker: the command line's pixels, the right frame count,
a cancel that leaves no file."""
from __future__ import annotations

import time

import imageio.v3 as iio
import numpy as np
import pytest

from core.generate.__main__ import main as generate_main
from core.paths import CameraKey, CameraPath, Keyframe, LatentKey, save_path
from renderer.path_jobs import PathRenderJob
from renderer.requests import RenderRequest
from renderer.worker import RenderClient

LATENT = LatentKey(((3, 1.0),), 0.7)
TURN = CameraPath((Keyframe(0.0, CameraKey(0.0), latent=LATENT),
                   Keyframe(1.0, CameraKey(150.0, 20.0), latent=LATENT, easing="ease-in-out")), name="turn")


def make_job(out_file, **changes) -> PathRenderJob:
    options = dict(request=RenderRequest(checkpoint="preset:tiny"), path=TURN, out_file=str(out_file), fps=4.0,
                   resolution=32)
    options.update(changes)
    return PathRenderJob(**options)


def test_path_job_writes_the_command_lines_video(tmp_path):
    job = make_job(tmp_path / "gui.mp4")
    with RenderClient(mode="inline") as client:
        job_id = client.start_job(job)
        status = client.wait_job(job_id, timeout_s=120)
    assert status.state == "done", status.error
    assert status.result.frames == job.frames == 4
    gui_frames = iio.imread(tmp_path / "gui.mp4")
    assert gui_frames.shape == (4, 32, 32, 3)
    assert np.abs(gui_frames[0].astype(int) - gui_frames[-1].astype(int)).mean() > 1.0, "the camera turned"

    path_file = tmp_path / "turn.json"
    save_path(TURN, path_file)
    cli_file = tmp_path / "cli.mp4"
    arguments = make_job(cli_file).command_line(str(path_file))
    assert arguments[:4] == ["python", "-m", "core.generate", "video"]
    assert generate_main(arguments[3:]) == 0
    assert np.array_equal(iio.imread(cli_file), gui_frames), "same path and checkpoint: the same pixels"


def test_cancel_stops_the_job_and_leaves_no_file(tmp_path):
    job = make_job(tmp_path / "long.mp4", fps=30.0, seconds=20.0)  # 600 frames: minutes if it were not cancelled
    with RenderClient(mode="inline") as client:
        job_id = client.start_job(job)
        status = client.job_progress(job_id)
        while not (status.state == "running" and status.fraction > 0):  # cancel once frames are being written
            assert not status.finished, status
            time.sleep(0.005)
            status = client.job_progress(job_id)
        client.cancel_job(job_id)
        final = client.wait_job(job_id, timeout_s=60)
    assert final.state == "cancelled"
    assert 0.0 < final.fraction < 0.5 and "no file written" in final.message
    assert list(tmp_path.iterdir()) == [], "neither the video nor its temporary file is left behind"


def test_bad_jobs_are_refused_with_the_fix():
    with pytest.raises(ValueError, match="even resolution"):
        make_job("video.mp4", resolution=33)
    with pytest.raises(ValueError, match=r"\.mp4 or \.gif"):
        make_job("video.avi")
    single = CameraPath((Keyframe(0.0, latent=LATENT),))
    with pytest.raises(ValueError, match="give the video's length"):
        make_job("video.mp4", path=single)
    assert make_job("video.mp4", path=single, seconds=0.5).frames == 2


def test_missing_checkpoint_is_an_error_status_not_a_crash(tmp_path):
    job = make_job(tmp_path / "out.mp4", request=RenderRequest(checkpoint=str(tmp_path / "missing.pt")))
    with RenderClient(mode="inline") as client:
        status = client.wait_job(client.start_job(job), timeout_s=60)
    assert status.state == "error" and "missing.pt" in status.error
    assert not (tmp_path / "out.mp4").exists()


def test_path_job_runs_in_the_worker_process_beside_renders(tmp_path):
    job = make_job(tmp_path / "process.mp4")
    with RenderClient(mode="process", torch_threads=1) as client:
        job_id = client.start_job(job)  # the job and its path cross the process boundary by pickling
        client.submit(RenderRequest(checkpoint="preset:tiny", yaw_deg=30.0))
        rendered = client.wait(timeout_s=120)
        status = client.wait_job(job_id, timeout_s=120)
    assert rendered is not None and rendered.error is None, "renders are still answered while the job runs"
    assert status.state == "done", status.error
    assert iio.imread(tmp_path / "process.mp4").shape == (4, 32, 32, 3)
