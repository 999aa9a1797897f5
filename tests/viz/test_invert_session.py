"""The Invert panel's session without a window: photo checks, crop, the job it starts, progress and "Use" with undo."""
from __future__ import annotations

import time

import numpy as np
from PIL import Image

from core.invert.photo import Crop
from renderer.invert_jobs import InvertJob, InvertProducts, InvertProgress
from renderer.jobs import JobStatus
from viz.jobs import JobBoard
from viz.context import RuntimeInfo, WidgetContext
from viz.history import EditHistory
from viz.invert_session import PREVIEW_SIDE, InvertSession
from viz.request_builder import build_request
from viz.state import AppState
from widgets import file_dialog


class ScriptedJobClient:
    """Remembers started jobs and answers job_progress with the statuses in `script`, one per call."""

    def __init__(self, script=()):
        self.jobs: list[InvertJob] = []
        self.cancelled: list[int] = []
        self.script = list(script)

    def start_job(self, job):
        self.jobs.append(job)
        return len(self.jobs)

    def job_progress(self, job_id):
        if len(self.script) > 1:
            return self.script.pop(0)
        return self.script[0] if self.script else JobStatus(job_id, "queued")

    def cancel_job(self, job_id):
        self.cancelled.append(job_id)


def make_session(tmp_path, client=None) -> InvertSession:
    state = AppState(checkpoint="preset:tiny")
    context = WidgetContext(state=state, info=RuntimeInfo(capture_folder=str(tmp_path / "captures")))
    return InvertSession(context, JobBoard(lambda: client, context.info), "cpu")


def write_photo(path, width=96, height=80):
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    pixels[..., 0] = np.arange(width, dtype=np.uint8)[None, :]  # red grows to the right: the crop shows in it
    Image.fromarray(pixels).save(path)
    return str(path)


def errors(session) -> list[str]:
    return [text for level, text in session.context.info.messages if level == "error"]


def products(tmp_path, checkpoint="preset:tiny") -> InvertProducts:
    image = np.full((16, 16, 3), 200, dtype=np.uint8)
    return InvertProducts(str(tmp_path), str(tmp_path / "latent.npz"), checkpoint, 30.5, -4.0,
                          (1.0, 2.0, 3.0, -4.0, -5.0, -6.0), {"psnr_db": 21.5, "mask_iou": 0.9, "perceptual": "lpips",
                                                                   "mask": "estimated"},
                          image)


def test_a_bad_photo_is_one_clear_message_and_changes_nothing(tmp_path):
    session = make_session(tmp_path)
    good = write_photo(tmp_path / "good.png")
    assert session.open_photo(good)
    session.set_crop(0, 0, 60)
    not_image = tmp_path / "notes.png"
    not_image.write_text("hello")
    for bad in (str(not_image), str(tmp_path / "missing.png")):
        before = len(session.context.info.messages)
        assert not session.open_photo(bad)
        assert len(errors(session)) == 1 + (bad.endswith("missing.png")), "one message per refused file"
        assert len(session.context.info.messages) == before + 1
        assert bad in errors(session)[-1]
        assert (session.photo_path, session.photo_size, session.crop) == (good, (96, 80), Crop(0, 0, 60))
    assert "not an image file" in errors(session)[0] and "no such photo" in errors(session)[1]


def test_crop_starts_centred_stays_inside_the_photo_and_resets_for_a_new_photo(tmp_path):
    session = make_session(tmp_path)
    assert session.photo_preview() is None
    session.open_photo(write_photo(tmp_path / "wide.png"))
    assert session.crop == Crop(8, 0, 80) and session.crop_is_centred
    preview = session.photo_preview()
    assert preview.shape == (PREVIEW_SIDE, PREVIEW_SIDE, 3) and preview.dtype == np.uint8
    assert session.photo_preview() is preview, "the same array until the crop changes (one texture upload)"
    assert session.set_crop(90, -5, 200) == Crop(16, 0, 80), "too large: the largest square, moved inside"
    assert session.set_crop(70, 70, 10) == Crop(64, 48, 32), "too small: the smallest square the fit takes"
    assert not session.crop_is_centred
    right = session.photo_preview()
    assert right is not preview and right[..., 0].mean() > preview[..., 0].mean(), "the preview shows the crop"
    session.set_mask(write_photo(tmp_path / "mask.png"))
    assert session.mask_path
    session.open_photo(write_photo(tmp_path / "tall.png", width=40, height=70))
    assert session.crop == Crop(0, 15, 40) and session.mask_path == "", "a new photo: centred crop, no mask"
    session.reset_crop()
    assert session.crop_is_centred


def test_a_mask_of_another_size_is_refused(tmp_path):
    session = make_session(tmp_path)
    assert not session.set_mask(write_photo(tmp_path / "mask.png"))
    assert "open a photo" in errors(session)[-1]
    session.open_photo(write_photo(tmp_path / "photo.png"))
    assert not session.set_mask(write_photo(tmp_path / "small.png", width=50, height=50))
    assert "mask is 50x50 but the photo is 96x80" in errors(session)[-1] and session.mask_path == ""


def test_start_sends_an_invert_job_with_the_panel_settings(tmp_path):
    client = ScriptedJobClient()
    session = make_session(tmp_path, client)
    assert not session.start() and "open a photo first" in errors(session)[-1] and not client.jobs
    photo, mask = write_photo(tmp_path / "photo.png"), write_photo(tmp_path / "mask.png")
    session.open_photo(photo)
    session.set_mask(mask)
    session.set_crop(4, 2, 70)
    state = session.context.state
    state.camera.yaw_deg, state.camera.pitch_deg, state.latent.seed_x = 25.0, -5.0, 3.0
    assert session.start()
    job = client.jobs[-1]
    assert isinstance(job, InvertJob) and job.request == build_request(state, "cpu")
    assert (job.photo, job.mask, job.crop, job.camera) == (photo, mask, (4, 2, 70), None), "search by default"
    assert (job.steps, job.finetune_steps, job.w_plus) == (100, 0, False)
    assert job.out_dir.startswith(str(tmp_path / "captures" / "invert-")) and job.out_dir == session.out_dir
    assert session.running and not session.start(), "one inversion at a time"

    client.script = [JobStatus(1, "done", 1.0, result=products(tmp_path))]
    session.poll()
    session.camera_mode, session.steps, session.finetune_steps, session.w_plus = "current view", 8, 3, True
    session.context.state.capture.folder = str(tmp_path / "own")
    client.script = [JobStatus(2, "queued")]
    assert session.start()
    job = client.jobs[-1]
    assert (job.camera, job.steps, job.finetune_steps, job.w_plus) == ((25.0, -5.0), 8, 3, True)
    assert job.out_dir.startswith(str(tmp_path / "own" / "invert-")), "the capture folder of the state wins"
    assert session.products is None and session.preview is None, "a new run forgets the old result"


def test_poll_keeps_the_newest_preview_and_the_products(tmp_path):
    first, second = (np.full((16, 16, 3), value, dtype=np.uint8) for value in (10, 20))
    result = products(tmp_path)
    client = ScriptedJobClient([
        JobStatus(1, "running", 0.1, message="preparing the model"),
        JobStatus(1, "running", 0.3, message="step 1", result=InvertProgress("latent", 1, 0.5, first, 0.0, 0.0)),
        JobStatus(1, "running", 0.5, message="step 2", result=InvertProgress("latent", 2, 0.4, None, 0.0, 0.0)),
        JobStatus(1, "running", 0.7, message="step 3", result=InvertProgress("latent", 3, 0.3, second, 0.0, 0.0)),
        JobStatus(1, "done", 1.0, message="PSNR 21.5 dB", result=result),
    ])
    session = make_session(tmp_path, client)
    session.open_photo(write_photo(tmp_path / "photo.png"))
    session.start()
    seen = [(session.status.message, session.preview)]  # start takes the first status already
    while session.running:
        session.poll()
        seen.append((session.status.message, session.preview))
    assert seen[0] == ("preparing the model", None)
    assert seen[1][1] is first and seen[2][1] is first, "a status without an image keeps the last preview"
    assert seen[3][1] is second and session.products is result and session.preview is result.image
    assert session.context.info.last_message == ("info", "inversion: PSNR 21.5 dB")
    assert session.report_line() == "PSNR 21.50 dB | mask IoU 0.900 | mask estimated | perceptual lpips"


def test_stop_keeps_the_best_result_and_errors_are_reported(tmp_path):
    client = ScriptedJobClient([JobStatus(1, "running", 0.2)])
    session = make_session(tmp_path, client)
    session.open_photo(write_photo(tmp_path / "photo.png"))
    session.start()
    session.poll()
    session.stop()
    assert client.cancelled == [1]
    client.script = [JobStatus(1, "cancelled", 0.4, message="stopped; the best so far", result=products(tmp_path))]
    session.poll()
    assert session.products is not None and session.context.info.last_message[0] == "warning"
    session.stop()
    assert client.cancelled == [1], "a finished job is not cancelled again"

    client.script = [JobStatus(2, "error", error="inversion: out of memory")]
    session.start()
    session.poll()
    assert errors(session)[-1] == "inversion failed: inversion: out of memory" and session.products is None


def test_use_shows_the_result_and_one_undo_goes_back(tmp_path):
    session = make_session(tmp_path)
    state = session.context.state
    state.camera.yaw_deg, state.pose.neck_deg = 10.0, (5.0, 0.0, 0.0)
    history = EditHistory(state)
    before = state.edit_snapshot()
    assert not session.use(), "nothing to use before a result"
    session.products = products(tmp_path, checkpoint=str(tmp_path / "finetuned.pt"))
    assert session.use()
    assert state.latent.latent_file == str(tmp_path / "latent.npz")
    assert state.checkpoint == str(tmp_path / "finetuned.pt"), "a fine-tuned generator is opened with its latent"
    assert (state.camera.yaw_deg, state.camera.pitch_deg) == (30.5, -4.0)
    assert state.pose.neck_deg == (1.0, 2.0, 3.0) and state.pose.head_deg == (-4.0, -5.0, -6.0)
    assert history.commit(state), "Use is one edit"
    assert history.undo(state)
    assert state.edit_snapshot() == before and state.latent.latent_file is None and state.checkpoint == "preset:tiny"
    assert history.redo(state) and state.latent.latent_file == str(tmp_path / "latent.npz")


def test_use_keeps_the_model_when_the_fit_did_not_tune_it(tmp_path):
    session = make_session(tmp_path)
    state = session.context.state
    session.products = products(tmp_path, checkpoint="preset:tiny")
    session.use()
    assert state.checkpoint == "preset:tiny" and state.latent.latent_file is not None


def test_without_a_dialog_program_the_open_button_says_so(monkeypatch):
    monkeypatch.setattr(file_dialog.sys, "platform", "linux")
    monkeypatch.setattr(file_dialog.shutil, "which", lambda name: None)
    dialog = file_dialog.OpenFileDialog("Open a photo")
    problem = dialog.open()
    assert "zenity" in problem and "type the path" in problem
    assert not dialog.is_open and dialog.poll() is None


def test_a_photo_opened_in_the_background_arrives_through_poll_and_a_bad_one_says_why(tmp_path):
    session = make_session(tmp_path)
    session.open_photo_in_background(write_photo(tmp_path / "photo.png", width=90, height=60))
    deadline = time.monotonic() + 30
    while session.opening and time.monotonic() < deadline:
        session.poll()
        time.sleep(0.01)
    assert not session.opening and session.photo_size == (90, 60) and session.crop.size == 60
    session.open_photo_in_background(str(tmp_path / "missing.png"))
    while session.opening and time.monotonic() < deadline:
        session.poll()
        time.sleep(0.01)
    assert session.photo_size == (90, 60), "a bad file changes nothing"
    level, text = session.context.info.last_message
    assert level == "error" and "missing.png" in text
