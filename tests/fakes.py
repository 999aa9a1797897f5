"""Stand-ins for renderer.worker.RenderClient: deterministic pictures without torch, optionally slow."""
from __future__ import annotations

import threading
import time

import numpy as np

from renderer.requests import RenderRequest, RenderResult


PREDICTED_POSE_DEG = (5.0, -10.0, 0.0, 2.0, -15.0, 1.0)  # what the fake pose branch "predicts"


def picture_of(request: RenderRequest, size: int = 32) -> np.ndarray:
    """A [size, size, 3] uint8 image that changes with yaw, seeds, pose and output (like a real render would)."""
    rows, columns = np.mgrid[0:size, 0:size].astype(np.float32) / size
    seed = sum(seed * weight for seed, weight in request.seeds)
    red = 127 + 120 * np.sin(6.0 * columns + np.radians(request.yaw_deg))
    green = 127 + 120 * np.cos(5.0 * rows + 0.37 * seed)
    blue = 127 + 120 * np.sin(3.0 * (rows + columns) + np.radians(sum(request.pose_deg)))
    image = np.stack([red, green, blue], axis=-1)
    if request.output != "image":
        image = image.mean(axis=-1, keepdims=True).repeat(3, axis=-1)
    return np.clip(image, 0, 255).astype(np.uint8)


class FakeClient:
    """Answers each request with `picture_of` after `delay_s`, in a background thread; errors for 'bad' paths."""

    def __init__(self, delay_s: float = 0.0, model_info: dict | None = None, raw_previews: bool = False):
        self.delay_s = delay_s
        self.raw_previews = raw_previews  # answer previews as the renderer does for a slow super-resolution
        self.model_info = model_info or {"preset": "tiny", "resolution": 32, "kimg": 0, "trained": False}
        self.restarts = 0
        self.submitted: list[RenderRequest] = []
        self.closed = False
        self._lock = threading.Lock()
        self._ready: RenderResult | None = None
        self._stamp = 0
        self._answered = 0
        self._messages: list[str] = []

    @property
    def busy(self) -> bool:
        return self._answered < self._stamp

    def submit(self, request: RenderRequest) -> int:
        self._stamp += 1
        self.submitted.append(request)
        stamp = self._stamp
        if self.delay_s:
            threading.Thread(target=self._finish, args=(stamp, request), daemon=True).start()
        else:
            self._finish(stamp, request)
        return stamp

    def _finish(self, stamp: int, request: RenderRequest) -> None:
        time.sleep(self.delay_s)
        if "corrupt" in request.checkpoint:
            result = RenderResult(stamp, request, error=f"CheckpointError: {request.checkpoint} is not a checkpoint")
        else:
            timings = {"mapping": 1.0, "rendering": 2.0, "total": 3.0 + self.delay_s * 1000}
            extras = {"predicted_pose": PREDICTED_POSE_DEG} if "predicted_pose" in request.extras else {}
            result = RenderResult(stamp, request, image=picture_of(request), timings_ms=timings,
                                  model_info=dict(self.model_info, checkpoint=request.checkpoint), extras=extras,
                                  raw_preview=self.raw_previews and request.preview)
        with self._lock:
            if stamp == self._stamp:
                self._ready = result

    def poll(self) -> RenderResult | None:
        with self._lock:
            result, self._ready = self._ready, None
        if result is not None:
            self._answered = result.stamp
        return result

    def messages(self) -> list[str]:
        messages, self._messages = self._messages, []
        return messages

    def close(self) -> None:
        self.closed = True
