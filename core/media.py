"""Writing images and videos: PNGs, MP4 (libx264, yuv420p) and GIF, each atomically, a video only once it was
read back complete. Used by `core.generate` and the viewer's Record MP4; imports no torch (the GUI uses it)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from core.atomic import temporary_beside
from core.cli import first_line
from core.names import VIDEO_SUFFIXES

MP4_CRF = 18  # x264 constant rate factor: visually lossless for these smooth renders, small files


def publish(temporary: Path, file: Path) -> None:
    """Rename `temporary` onto `file` with the permissions of a normally created file (mkstemp makes 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(temporary, 0o666 & ~umask)
    os.replace(temporary, file)


def write_png(pixels: np.ndarray, file: str | os.PathLike) -> Path:
    """Save uint8 [H, W, 3] as PNG via a temporary file and a rename."""
    file = Path(file)
    file.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_beside(file)
    try:
        Image.fromarray(pixels).save(temporary, format="PNG")
        publish(temporary, file)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return file


def check_video_target(file: str | os.PathLike, size: tuple[int, int] | None = None) -> Path:
    """Raise ValueError when `file` is not a .mp4/.gif or an MP4 frame size is odd (yuv420p needs even sides)."""
    file = Path(file)
    if file.suffix.lower() not in VIDEO_SUFFIXES:
        raise ValueError(f"{file}: the video must end in {' or '.join(VIDEO_SUFFIXES)}")
    if size is not None and file.suffix.lower() == ".mp4" and (size[0] % 2 or size[1] % 2):
        raise ValueError(f"{file}: MP4 (yuv420p) needs even frame sides, got {size[1]}x{size[0]}; "
                         f"choose an even --resolution")
    return file


def _frames_in(file: Path) -> int:
    """How many frames a finished video file really holds (decoded, not taken from its header)."""
    if file.suffix.lower() == ".gif":
        with Image.open(file) as image:
            return int(getattr(image, "n_frames", 1))
    import imageio_ffmpeg  # lazy: only MP4 files need ffmpeg (GIFs are read with PIL above)

    return int(imageio_ffmpeg.count_frames_and_secs(str(file))[0])


class VideoWriter:
    """Frames in, one .mp4 or .gif out; the file appears under its name only once `close()` succeeds.

    Use as a context manager; frames are uint8 [H, W, 3] of one size.
    """

    def __init__(self, file: str | os.PathLike, fps: float):
        self.file = check_video_target(file)
        self.fps = float(fps)
        self.file.parent.mkdir(parents=True, exist_ok=True)
        self.temporary = temporary_beside(self.file)
        self.frames_written = 0
        self._writer = None
        self._gif_frames: list[Image.Image] = []

    def append(self, frame: np.ndarray) -> None:
        """Add one frame uint8 [H, W, 3]."""
        if self.file.suffix.lower() == ".gif":
            self._gif_frames.append(Image.fromarray(frame))
        else:
            if self._writer is None:
                check_video_target(self.file, frame.shape[:2])
                import imageio.v2 as imageio  # lazy: only MP4 needs imageio and ffmpeg (GIFs go through PIL)

                # macro_block_size 2 keeps the exact (even) size instead of padding to multiples of 16.
                self._writer = imageio.get_writer(
                    self.temporary, format="FFMPEG", mode="I", fps=self.fps, codec="libx264",
                    pixelformat="yuv420p", macro_block_size=2, quality=None,
                    ffmpeg_params=["-crf", str(MP4_CRF)], ffmpeg_log_level="error",
                )
            self._writer.append_data(frame)
        self.frames_written += 1

    def close(self) -> Path:
        """Finish the file, check that it holds every frame, and only then move it into place."""
        if self.frames_written == 0:
            self.abort()
            raise ValueError(f"{self.file}: no frames were rendered, nothing to write")
        try:
            if self._writer is not None:
                writer, self._writer = self._writer, None
                writer.close()
            else:
                # GIF delays are in whole hundredths of a second; PIL rounds the milliseconds given here.
                first, *rest = self._gif_frames
                first.save(self.temporary, format="GIF", save_all=True, append_images=rest,
                           duration=1000.0 / self.fps, loop=0, optimize=False)
            found = _frames_in(self.temporary)
        except (OSError, RuntimeError, ValueError) as error:  # a full disk surfaces as any of these
            self.abort()
            raise OSError(f"{self.file}: the video could not be written ({first_line(error)}); "
                          "nothing was published: free some space or choose another folder") from None
        if found != self.frames_written:
            self.abort()
            raise OSError(f"{self.file}: the written video holds {found} of {self.frames_written} frames (a full "
                          "disk?); nothing was published: free some space or choose another folder")
        publish(self.temporary, self.file)
        return self.file

    def abort(self) -> None:
        """Drop the partial file (after an error or a cancel)."""
        if self._writer is not None:
            writer, self._writer = self._writer, None
            try:
                writer.close()
            except (OSError, RuntimeError, ValueError):
                pass  # the partial file goes anyway
        self.temporary.unlink(missing_ok=True)

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, error_type, error, traceback) -> None:
        if error_type is None:
            self.close()
        else:
            self.abort()
