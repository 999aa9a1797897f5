"""The few OpenGL calls of the GUI: the render image as a texture, and reading back the window."""
from __future__ import annotations

import numpy as np
from OpenGL import GL


class ImageTexture:
    """An RGB texture that shows the newest rendered image; re-allocated only when the size changes."""

    def __init__(self):
        self.texture_id: int | None = None  # GL name, created on the first upload (needs a current context)
        self.size: tuple[int, int] = (0, 0)  # (width, height) of the uploaded image
        self.uploads = 0  # how many images were uploaded (tests check that results reach the screen)

    def upload(self, image: np.ndarray) -> None:
        """Copies `image: [H, W, 3] uint8` into the texture."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"render image must be uint8 [H, W, 3], got {image.dtype} {image.shape}")
        pixels = np.ascontiguousarray(image)
        height, width = pixels.shape[:2]
        if self.texture_id is None:
            self.texture_id = int(GL.glGenTextures(1))
        GL.glBindTexture(GL.GL_TEXTURE_2D, self.texture_id)
        # Rows of an RGB image are not 4-byte aligned for odd widths.
        GL.glPixelStorei(GL.GL_UNPACK_ALIGNMENT, 1)
        if (width, height) != self.size:
            GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_MIN_FILTER, GL.GL_LINEAR)
            GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_MAG_FILTER, GL.GL_LINEAR)
            GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_WRAP_S, GL.GL_CLAMP_TO_EDGE)
            GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_WRAP_T, GL.GL_CLAMP_TO_EDGE)
            GL.glTexImage2D(GL.GL_TEXTURE_2D, 0, GL.GL_RGB8, width, height, 0, GL.GL_RGB, GL.GL_UNSIGNED_BYTE, pixels)
            self.size = (width, height)
        else:
            GL.glTexSubImage2D(GL.GL_TEXTURE_2D, 0, 0, 0, width, height, GL.GL_RGB, GL.GL_UNSIGNED_BYTE, pixels)
        GL.glBindTexture(GL.GL_TEXTURE_2D, 0)
        self.uploads += 1

    def release(self) -> None:
        """Deletes the GL texture (call while the context is still current)."""
        if self.texture_id is not None:
            GL.glDeleteTextures([self.texture_id])
            self.texture_id = None
            self.size = (0, 0)


def read_window_pixels() -> np.ndarray:
    """The current back buffer as `[H, W, 3] uint8`, top row first (call after rendering, before the swap)."""
    viewport = GL.glGetIntegerv(GL.GL_VIEWPORT)
    x, y, width, height = (int(value) for value in viewport)
    GL.glPixelStorei(GL.GL_PACK_ALIGNMENT, 1)
    GL.glReadBuffer(GL.GL_BACK)
    data = GL.glReadPixels(x, y, width, height, GL.GL_RGB, GL.GL_UNSIGNED_BYTE)
    pixels = np.frombuffer(data, dtype=np.uint8).reshape(height, width, 3)
    return np.ascontiguousarray(pixels[::-1])
