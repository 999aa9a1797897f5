"""Camera maths of the GL mesh view (numpy only): an orbit camera around a target, OpenGL-style matrices.

Matrices are 4x4 float32, row-major as numpy stores them; they are uploaded to GL with transpose=True.
World axes follow the generator's: y up, the face looks toward +z, so yaw 0 looks at the face.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

PITCH_LIMIT_DEG = 85.0  # beyond this the up vector and the view direction become parallel
DISTANCE_LIMITS = (0.05, 50.0)  # closest and farthest orbit distance, world units


def look_at(eye: np.ndarray, target: np.ndarray, up: np.ndarray) -> np.ndarray:
    """World-to-view matrix [4, 4] of a camera at `eye` looking at `target` (view looks down -z)."""
    eye, target, up = (np.asarray(v, dtype=np.float64) for v in (eye, target, up))
    forward = target - eye
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, up)
    right /= np.linalg.norm(right)
    true_up = np.cross(right, forward)
    view = np.eye(4)
    view[0, :3], view[1, :3], view[2, :3] = right, true_up, -forward
    view[:3, 3] = -view[:3, :3] @ eye
    return view.astype(np.float32)


def perspective(fov_y_deg: float, aspect: float, near: float, far: float) -> np.ndarray:
    """OpenGL projection matrix [4, 4] (clip z in [-1, 1]) for a vertical field of view in degrees."""
    scale = 1.0 / math.tan(math.radians(fov_y_deg) / 2.0)
    projection = np.zeros((4, 4))
    projection[0, 0] = scale / aspect
    projection[1, 1] = scale
    projection[2, 2] = (far + near) / (near - far)
    projection[2, 3] = 2.0 * far * near / (near - far)
    projection[3, 2] = -1.0
    return projection.astype(np.float32)


@dataclass
class OrbitCamera:
    """A camera on a sphere around `target`; drag orbits, wheel zooms, shift-drag pans."""

    yaw_deg: float = 0.0  # 0 = camera on +z (in front of the face), 90 = camera on +x
    pitch_deg: float = 0.0  # > 0 looks from above
    distance: float = 2.5  # distance from the target, world units
    target: tuple[float, float, float] = (0.0, 0.0, 0.0)  # orbit centre, world units
    fov_y_deg: float = 30.0  # vertical field of view

    def eye(self) -> np.ndarray:
        """Camera position [3] in world units."""
        yaw, pitch = math.radians(self.yaw_deg), math.radians(self.pitch_deg)
        offset = np.array([math.sin(yaw) * math.cos(pitch), math.sin(pitch), math.cos(yaw) * math.cos(pitch)])
        return np.asarray(self.target, dtype=np.float64) + self.distance * offset

    def view(self) -> np.ndarray:
        """World-to-view matrix [4, 4]."""
        return look_at(self.eye(), np.asarray(self.target), np.array([0.0, 1.0, 0.0]))

    def projection(self, aspect: float) -> np.ndarray:
        """Projection matrix [4, 4] with near and far planes that keep the orbit sphere inside."""
        return perspective(self.fov_y_deg, aspect, max(self.distance * 0.01, 1e-3), self.distance * 10.0 + 10.0)

    def orbit(self, delta_x_px: float, delta_y_px: float, degrees_per_px: float = 0.4) -> None:
        """Dragging right turns the camera to the subject's right side; dragging down looks from above."""
        self.yaw_deg = (self.yaw_deg - delta_x_px * degrees_per_px + 180.0) % 360.0 - 180.0
        self.pitch_deg = float(np.clip(self.pitch_deg + delta_y_px * degrees_per_px, -PITCH_LIMIT_DEG, PITCH_LIMIT_DEG))

    def zoom(self, wheel_steps: float, factor_per_step: float = 0.9) -> None:
        """Wheel up moves closer (geometric steps, so zoom feels the same at any distance)."""
        self.distance = float(np.clip(self.distance * factor_per_step**wheel_steps, *DISTANCE_LIMITS))

    def pan(self, delta_x_px: float, delta_y_px: float, viewport_height_px: float) -> None:
        """Moves the target in the view plane so that the scene follows the mouse."""
        world_per_px = 2.0 * self.distance * math.tan(math.radians(self.fov_y_deg) / 2.0) / max(viewport_height_px, 1.0)
        view = self.view()
        right, up = view[0, :3].astype(np.float64), view[1, :3].astype(np.float64)
        moved = np.asarray(self.target) - right * delta_x_px * world_per_px + up * delta_y_px * world_per_px
        self.target = tuple(float(v) for v in moved)

    def frame(self, lower: np.ndarray, upper: np.ndarray) -> None:
        """Centres the box [lower, upper] and backs off until its bounding sphere fills the view."""
        lower, upper = np.asarray(lower, dtype=np.float64), np.asarray(upper, dtype=np.float64)
        self.target = tuple(float(v) for v in (lower + upper) / 2.0)
        radius = max(float(np.linalg.norm(upper - lower)) / 2.0, 1e-3)
        self.distance = float(np.clip(radius / math.sin(math.radians(self.fov_y_deg) / 2.0), *DISTANCE_LIMITS))


def project(points: np.ndarray, view: np.ndarray, projection: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Pixel positions [N, 2] (x right, y down, pixel units) of world points [N, 3] in a (width, height) image."""
    homogeneous = np.concatenate([np.asarray(points, dtype=np.float64), np.ones((len(points), 1))], axis=1)
    clip = homogeneous @ (projection.astype(np.float64) @ view.astype(np.float64)).T
    ndc = clip[:, :3] / clip[:, 3:4]
    width, height = size
    return np.stack([(ndc[:, 0] + 1.0) / 2.0 * width, (1.0 - ndc[:, 1]) / 2.0 * height], axis=1)
