"""Saving screenshots (PNG) and recording the viewport (MP4 through imageio-ffmpeg)."""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
from PIL import Image


def save_png(image: np.ndarray, path: str | Path) -> Path:
    """Writes `image: [H, W, 3] uint8` as PNG atomically (temporary file + rename)."""
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        Image.fromarray(np.ascontiguousarray(image)).save(temporary, format="PNG")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


def timestamped_path(folder: str | Path, prefix: str, suffix: str) -> Path:
    """A new file name like `folder/render-20260101-120000-001.png` that does not exist yet."""
    folder = Path(folder).expanduser()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    index = 1
    while (candidate := folder / f"{prefix}-{stamp}-{index:03d}{suffix}").exists():
        index += 1
    return candidate


class VideoRecorder:
    """Appends viewport frames to an MP4; frames of another size are resized to the first frame's size."""

    def __init__(self, path: str | Path, fps: int = 30):
        import imageio.v2 as imageio  # imported here: only recording needs ffmpeg

        self.path = Path(path).expanduser()  # the MP4 being written
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.frames = 0  # frames written so far
        self._size: tuple[int, int] | None = None  # (width, height) of the video, fixed by the first frame
        # libx264 wants even sizes; macro_block_size=1 keeps our sizes instead of padding with a warning.
        self._writer = imageio.get_writer(self.path, fps=fps, codec="libx264", quality=8, macro_block_size=1)

    def add(self, image: np.ndarray) -> None:
        """Appends `image: [H, W, 3] uint8`."""
        if self._size is None:
            height, width = image.shape[:2]
            self._size = (width - width % 2, height - height % 2)
        if (image.shape[1], image.shape[0]) != self._size:
            image = np.asarray(Image.fromarray(image).resize(self._size, Image.BILINEAR))
        self._writer.append_data(np.ascontiguousarray(image))
        self.frames += 1

    def close(self) -> Path:
        """Finishes the file and returns its path."""
        self._writer.close()
        return self.path
