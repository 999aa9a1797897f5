"""The Paths panel's working data: the recorded path, its file, playback and the background video render.

No torch and no imgui: the panel (widgets/paths_widget.py) draws this, the controller advances it every frame,
tests drive it directly. The path is a `core.paths.CameraPath` value, so it saves and loads in the command
line's format; the render runs as a `PathRenderJob` in the render worker and never blocks the GUI.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from core.paths import (
    CameraPath, PathFileError, append_keyframe, load_path, preset_path, remove_keyframe, save_path,
)
from renderer.path_jobs import PathRenderJob
from viz.capture import timestamped_path
from viz.context import WidgetContext
from viz.jobs import JobBoard
from viz.path_player import PathPlayer, apply_frame, keyframe_from_state, moved_keyframe, retimed_keyframe
from viz.request_builder import build_request

MORPH_SEEDS = 3  # a seed morph runs through the current seed and the next ones


@dataclass
class VideoSettings:
    """How "Render path to MP4" films the path."""

    fps: int = 30  # frames per second
    seconds: float = 0.0  # length of the video; 0 = the path's own duration
    resolution: int = 0  # pixels per side; 0 = the model's output size
    out_file: str = ""  # .mp4 or .gif; empty = a new file in the capture folder


class PathSession:
    """Recorded keyframes, playback over the AppState and the newest path-render job."""

    def __init__(self, context: WidgetContext, jobs: JobBoard, device: str):
        self.context = context
        self.jobs = jobs  # the controller's job API of the render worker
        self.device = device  # the render device named in the job's request
        self.path: CameraPath | None = None  # the recorded path; None before the first keyframe
        self.selected = 0  # index of the keyframe the panel edits
        self.key_duration_s = 1.0  # seconds between the last keyframe and a newly added one
        self.file = ""  # path JSON file for Save / Load
        self.video = VideoSettings()
        self.player = PathPlayer()
        self.job_id: int | None = None  # the running (or last) render job
        self.job_status = None  # its newest renderer.jobs.JobStatus
        self.job_file: str = ""  # the video the job writes

    # ----- editing -----

    def add_keyframe(self) -> None:
        """Append the current camera, pose and latent, `key_duration_s` after the last keyframe."""
        previous_yaw = self.path.keyframes[-1].camera.yaw_deg if self.path is not None else None
        key = keyframe_from_state(self.context.state, previous_yaw_deg=previous_yaw)
        self._set_path(append_keyframe(self.path, key, self.key_duration_s), len(self._keys()))

    def delete(self, index: int) -> None:
        self._set_path(remove_keyframe(self.path, index), min(index, len(self._keys()) - 2))

    def move(self, index: int, offset: int) -> None:
        self._set_path(moved_keyframe(self.path, index, offset), index + offset)

    def set_duration(self, index: int, duration_s: float) -> None:
        """Keyframe `index` comes `duration_s` after the previous one (ignored for the first and for <= 0)."""
        if index > 0 and duration_s > 0:
            self._set_path(retimed_keyframe(self.path, index, duration_s=duration_s), index)

    def set_easing(self, index: int, easing: str) -> None:
        self._set_path(retimed_keyframe(self.path, index, easing=easing), index)

    def go_to(self, index: int) -> None:
        """Show keyframe `index` in the viewport."""
        apply_frame(self.context.state, self.path.keyframes[index])

    def clear(self) -> None:
        self._set_path(None, 0)

    def apply_preset(self, name: str) -> None:
        """Replace the keyframes by a preset starting from the current view, pose and identity."""
        state = self.context.state
        current = keyframe_from_state(state)
        seed = state.latent.seed
        seeds = tuple(seed + offset for offset in range(MORPH_SEEDS)) if name == "morph" else (seed,)
        path = preset_path(name, seeds=seeds, psi=state.latent.truncation_psi, camera=current.camera,
                           pose_deg=current.pose_deg)
        if path.keyframes[0].latent is None:
            # The recorded identity goes into every keyframe, so the file shows it on the command line too.
            path = replace(path, keyframes=tuple(replace(key, latent=current.latent) for key in path.keyframes))
        self._set_path(path, 0)
        self.context.info.message(f"path preset {name}: {len(path.keyframes)} keyframes, {path.duration_s:g} s")

    # ----- files -----

    def save(self, file: str | None = None) -> Path | None:
        file = (file or self.file).strip()
        if self.path is None or not file:
            self.context.info.message("add keyframes and give a .json file name before saving", "warning")
            return None
        try:
            written = save_path(self.path, Path(file).expanduser())
        except (OSError, ValueError) as error:
            self.context.info.message(f"could not save the path to {file}: {error}", "error")
            return None
        self.context.info.message(f"path saved to {written}")
        return written

    def load(self, file: str | None = None) -> bool:
        file = (file or self.file).strip()
        try:
            path = load_path(Path(file).expanduser())
        except PathFileError as error:
            self.context.info.message(str(error), "error")
            return False
        self._set_path(path, 0)
        self.context.info.message(f"path loaded from {file}: {len(path.keyframes)} keyframes")
        return True

    # ----- playback -----

    def play(self) -> None:
        if self.path is not None:
            self.player.start(self.context.state, self.path)

    def stop(self) -> None:
        self.player.stop(self.context.state)

    def advance(self, elapsed_s: float) -> bool:
        """Called by the app every frame: moves playback on and collects the render job's progress."""
        self.poll_render()
        return self.player.advance(self.context.state, elapsed_s)

    # ----- rendering -----

    @property
    def rendering(self) -> bool:
        return self.job_status is not None and not self.job_status.finished

    def render_job(self) -> PathRenderJob:
        """The job for the current path, model and settings (raises ValueError with the fix)."""
        if self.path is None:
            raise ValueError("the path has no keyframes yet: add some or choose a preset")
        video = self.video
        out_file = video.out_file.strip() or str(timestamped_path(self.context.info.capture_folder, "path", ".mp4"))
        request = build_request(self.context.state, self.device)
        return PathRenderJob(request=request, path=self.path, out_file=str(Path(out_file).expanduser()),
                             fps=float(video.fps), seconds=video.seconds or None, resolution=video.resolution or None)

    def start_render(self) -> None:
        if self.rendering:
            return
        try:
            job = self.render_job()
        except ValueError as error:
            self.context.info.message(f"cannot render the path: {error}", "error")
            return
        job_id = self.jobs.start(job, "path video")
        if job_id is None:
            return
        self.job_file = job.out_file
        self.job_id = job_id
        self.job_status = self.jobs.progress(self.job_id)
        self.context.info.message(f"rendering {job.frames} frames to {job.out_file}")

    def cancel_render(self) -> None:
        if self.rendering:
            self.jobs.cancel(self.job_id)

    def poll_render(self) -> None:
        if self.job_id is None or not self.rendering:
            return
        status = self.jobs.progress(self.job_id)
        if status is None:
            return
        self.job_status = status
        if status.state == "done":
            self.context.info.message(f"path video: {status.message}")
        elif status.state == "cancelled":
            self.context.info.message(f"path video {status.message}", "warning")
        elif status.state == "error":
            self.context.info.message(f"path video failed: {status.error}", "error")

    # ----- helpers -----

    def _keys(self) -> tuple:
        return self.path.keyframes if self.path is not None else ()

    def _set_path(self, path: CameraPath | None, selected: int) -> None:
        if self.player.playing:
            self.stop()
        self.path = path
        self.selected = max(0, min(selected, len(self._keys()) - 1))

