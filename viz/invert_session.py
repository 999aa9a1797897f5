"""The Invert panel's working data: the photo, its crop and mask, the fit's settings and the background job.

No torch and no imgui: the panel (widgets/invert_widget.py) draws this, the controller polls it every frame, tests
drive it directly. The photo is read and checked with core.invert.photo (numpy and PIL), the fit runs as an
`InvertJob` in the render worker with its cached model, and `use()` puts the result into the AppState, where
the edit history makes it one undo step.
"""
from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from core.invert.photo import Crop, InvertInputError, MIN_PHOTO_SIDE, centre_crop, read_mask, read_photo
from renderer.invert_jobs import InvertJob, InvertProducts, InvertProgress
from renderer.jobs import JobStatus
from viz.capture import timestamped_path
from viz.context import WidgetContext
from viz.jobs import JobBoard
from viz.request_builder import build_request
from viz.state import wrap_degrees

CAMERA_MODES = ("search", "current view")  # search the yaw circle, or start from the viewer's yaw and pitch
PREVIEW_SIDE = 256  # pixels per side of the cropped photo the panel shows
DISPLAY_SOURCE_SIDE = 1024  # the shown crop is cut from a copy at most this large: cheap while a slider drags


class InvertSession:
    """The photo to invert, the fit's settings, the newest job status and its products."""

    def __init__(self, context: WidgetContext, jobs: JobBoard, device: str):
        self.context = context
        self.jobs = jobs  # the controller's job API of the render worker
        self.device = device  # the render device named in the job's request
        self.photo_path = ""  # the opened photo; empty before the first
        self.photo_size: tuple[int, int] = (0, 0)  # (width, height) of the opened photo
        self.mask_path = ""  # a mask image of the photo's size; empty = estimated from the background
        self.crop = Crop(0, 0, 0)  # the square of the photo that is fitted, in photo pixels
        self.camera_mode = CAMERA_MODES[0]
        self.steps = 100  # latent optimisation steps
        self.finetune_steps = 0  # pivotal-tuning steps (0 = keep the generator)
        self.w_plus = False  # one w per layer
        self.job_id: int | None = None  # the running (or last) inversion job
        self.status: JobStatus | None = None  # its newest status
        self.preview: np.ndarray | None = None  # uint8 [R, R, 3]: the newest render of the fit
        self.products: InvertProducts | None = None  # the last finished (or stopped) inversion
        self.out_dir = ""  # the folder the job writes
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="photo")  # reads photos off the GUI
        self._opening: tuple[str, Future] | None = None  # (path, its read) while a photo is read in the background
        self._display_source: np.ndarray | None = None  # the photo scaled to at most DISPLAY_SOURCE_SIDE
        self._display_scale = 1.0  # display source pixels per photo pixel
        self._photo_preview: np.ndarray | None = None
        self._preview_crop: Crop | None = None  # the crop `_photo_preview` shows

    # ----- the photo -----

    @property
    def has_photo(self) -> bool:
        return bool(self.photo_path)

    def open_photo(self, path: str) -> bool:
        """Read and check `path` now; a new photo gets the centred crop and no mask. A bad file changes nothing."""
        path = str(path).strip()
        return self._take_photo(path, *_read_for_display(path))

    def open_photo_in_background(self, path: str) -> None:
        """As `open_photo`, with the file read and decoded on a thread (a 12-megapixel JPEG takes ~0.2 s):
        `poll()` takes the photo when it is ready, so the window never waits. A newer request replaces it."""
        path = str(path).strip()
        self._opening = (path, self._reader.submit(_read_for_display, path))

    @property
    def opening(self) -> bool:
        """A photo is being read in the background."""
        return self._opening is not None

    def _take_opened_photo(self) -> None:
        path, future = self._opening
        if future.done():
            self._opening = None
            self._take_photo(path, *future.result())

    def _take_photo(self, path: str, read: tuple | None, error: str | None) -> bool:
        if error is not None:
            self.context.info.message(error, "error")
            return False
        (width, height), pixels, scale = read
        self.photo_path, self.photo_size = path, (width, height)
        self.crop = centre_crop(width, height)
        self.mask_path = ""
        self._display_source, self._display_scale = pixels, scale
        self._photo_preview = self._preview_crop = None
        self.context.info.message(f"photo {Path(path).name}: {width}x{height}, crop {self.crop.size} px centred")
        return True

    def set_mask(self, path: str) -> bool:
        """Use the mask image `path` (empty: estimate one); it must have the photo's size."""
        path = str(path).strip()
        if not path:
            self.mask_path = ""
            return True
        if not self.has_photo:
            self.context.info.message("open a photo before its mask", "error")
            return False
        try:
            read_mask(Path(path).expanduser(), self.photo_size)
        except InvertInputError as error:
            self.context.info.message(str(error), "error")
            return False
        self.mask_path = path
        return True

    def set_crop(self, left: int, top: int, size: int) -> Crop:
        """The square (left, top, size) moved and shrunk to lie inside the photo; returns the crop kept."""
        width, height = self.photo_size
        largest = min(width, height)
        size = int(min(max(int(size), min(MIN_PHOTO_SIDE, largest)), largest))
        left = int(min(max(int(left), 0), width - size))
        top = int(min(max(int(top), 0), height - size))
        self.crop = Crop(left, top, size)
        return self.crop

    def reset_crop(self) -> None:
        self.crop = centre_crop(*self.photo_size)

    @property
    def crop_is_centred(self) -> bool:
        return self.crop == centre_crop(*self.photo_size)

    def photo_preview(self) -> np.ndarray | None:
        """The cropped square of the photo, uint8 [PREVIEW_SIDE, PREVIEW_SIDE, 3]; the same array until the crop
        changes (the panel uploads a texture only for a new array)."""
        if self._display_source is None:
            return None
        if self._preview_crop != self.crop:
            scale = self._display_scale
            left, top = round(self.crop.left * scale), round(self.crop.top * scale)
            side = max(1, round(self.crop.size * scale))
            square = self._display_source[top:top + side, left:left + side]
            image = Image.fromarray(np.ascontiguousarray(square)).resize((PREVIEW_SIDE, PREVIEW_SIDE),
                                                                         Image.Resampling.BILINEAR)
            self._photo_preview, self._preview_crop = np.asarray(image), self.crop
        return self._photo_preview

    # ----- the job -----

    @property
    def running(self) -> bool:
        return self.status is not None and not self.status.finished

    def job(self) -> InvertJob:
        """The job for the opened photo, the shown model and the settings (ValueError says what is missing)."""
        if not self.has_photo:
            raise ValueError("open a photo first")
        state = self.context.state
        camera = None if self.camera_mode == "search" else (float(state.camera.yaw_deg), float(state.camera.pitch_deg))
        folder = Path(state.capture.folder or self.context.info.capture_folder).expanduser()
        self.out_dir = str(timestamped_path(folder, "invert", ""))
        return InvertJob(request=build_request(state, self.device), photo=str(Path(self.photo_path).expanduser()),
                         out_dir=self.out_dir, mask=str(Path(self.mask_path).expanduser()) if self.mask_path else None,
                         crop=self.crop.as_tuple(), camera=camera, steps=int(self.steps),
                         finetune_steps=int(self.finetune_steps), w_plus=bool(self.w_plus))

    def start(self) -> bool:
        """Start the inversion in the render worker (never blocks); False with a message when it cannot."""
        if self.running:
            return False
        try:
            job = self.job()
        except ValueError as error:
            self.context.info.message(f"cannot invert: {error}", "error")
            return False
        job_id = self.jobs.start(job, "invert")
        if job_id is None:
            return False
        self.preview, self.products = None, None
        self.job_id = job_id
        self.status = JobStatus(self.job_id, "queued", message="sent to the render worker")
        self.context.info.message(f"inverting {Path(job.photo).name} into {job.out_dir}")
        self.poll()
        return True

    def stop(self) -> None:
        """Stop the fit; the job still writes and hands back the best result so far."""
        if self.running:
            self.jobs.cancel(self.job_id)

    def poll(self) -> None:
        """Called every frame: takes a photo read in the background; keeps the job's newest status, preview image
        and, at the end, the products."""
        if self._opening is not None:
            self._take_opened_photo()
        if self.job_id is None or not self.running:
            return
        status = self.jobs.progress(self.job_id)
        if status is None:
            return
        self.status = status
        result = status.result
        if isinstance(result, InvertProgress) and result.image is not None:
            self.preview = result.image
        if not status.finished:
            return
        if isinstance(result, InvertProducts):
            self.products = result
            if result.image is not None:
                self.preview = result.image
        if status.state == "done":
            self.context.info.message(f"inversion: {status.message}")
        elif status.state == "cancelled":
            self.context.info.message(f"inversion {status.message}", "warning")
        else:
            self.context.info.message(f"inversion failed: {status.error}", "error")

    def use(self) -> bool:
        """Show the result: its latent, model (a fine-tuned one), camera and body pose become the state."""
        products = self.products
        if products is None:
            return False
        state = self.context.state
        state.latent.latent_file = products.latent_file
        if products.checkpoint != state.checkpoint:
            state.checkpoint = products.checkpoint
        state.camera.yaw_deg = wrap_degrees(float(products.yaw_deg))
        state.camera.pitch_deg = float(products.pitch_deg)
        pose = tuple(float(value) for value in products.pose_deg)
        state.pose.neck_deg, state.pose.head_deg = pose[:3], pose[3:]
        self.context.info.message(f"showing the inverted latent {products.latent_file} (Ctrl+Z goes back)")
        return True

    def report_line(self) -> str:
        """PSNR, mask IoU and perceptual term of the last result, for the panel."""
        if self.products is None:
            return ""
        report = self.products.report
        iou = report.get("mask_iou")
        line = (f"PSNR {report.get('psnr_db', float('nan')):.2f} dB | mask IoU "
                f"{'n/a' if iou is None else f'{iou:.3f}'} | mask {report.get('mask', '?')} | perceptual "
                f"{report.get('perceptual', '?')}")
        if report.get("finetuned_psnr_db") is not None:
            line += f" | fine-tuned PSNR {report['finetuned_psnr_db']:.2f} dB"
        return line


def _read_for_display(path: str) -> tuple[tuple | None, str | None]:
    """((width, height), the photo scaled to at most DISPLAY_SOURCE_SIDE, that scale) and no error, or (None, the
    error's line): what opening a photo needs, safe to run on a thread (numpy and PIL only)."""
    try:
        pixels = read_photo(Path(path).expanduser())
    except InvertInputError as error:
        return None, str(error)
    except Exception as error:  # noqa: BLE001 - on a thread: an unforeseen failure must become the user's line
        return None, f"could not read the photo {path}: {error}"
    height, width = pixels.shape[:2]
    scale = min(1.0, DISPLAY_SOURCE_SIDE / max(width, height))
    if scale < 1.0:
        shrunk = Image.fromarray(pixels).resize((max(1, round(width * scale)), max(1, round(height * scale))),
                                                Image.Resampling.BOX)
        pixels = np.asarray(shrunk)
    return ((width, height), pixels, scale), None
