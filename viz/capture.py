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
    """Appends viewport frames to an MP4; frames of another size are resized to the first frame's size.

    The frames go through core.media's VideoWriter, as the command line's videos do: the file appears under its
    name only once it was read back with every frame (a full disk gives an error, not an unplayable file)."""

    def __init__(self, path: str | Path, fps: int = 30):
        from core.media import VideoWriter  # imported here: only recording needs ffmpeg

        self.path = Path(path).expanduser()  # the MP4 being written
        self.frames = 0  # frames written so far
        self._size: tuple[int, int] | None = None  # (width, height) of the video, fixed by the first frame
        self._writer = VideoWriter(self.path, fps)

    def add(self, image: np.ndarray) -> None:
        """Appends `image: [H, W, 3] uint8`."""
        if self._size is None:
            height, width = image.shape[:2]
            self._size = (width - width % 2, height - height % 2)
        if (image.shape[1], image.shape[0]) != self._size:
            image = np.asarray(Image.fromarray(image).resize(self._size, Image.BILINEAR))
        self._writer.append(np.ascontiguousarray(image))
        self.frames += 1

    def close(self) -> Path:
        """Finishes and verifies the file, then publishes it under its name; returns the path.

        Raises OSError/ValueError (the file is not published, its partial file removed) when it cannot be
        completed."""
        return self._writer.close()
