"""Mesh panel: extract the iso-surface as a background job (progress, Cancel), look at it in 3D, export it.

Extraction and export run in the render worker (renderer/jobs.py), so the GUI never waits; the finished
arrays come back and are drawn by the GL mesh view. Export runs the same job again with files to write
(the worker's model, ws and tri-grid are cached, so that costs the grid sampling only).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from imgui_bundle import imgui

from viz.gl.mesh_buffers import segment_vertices
from renderer.jobs import MeshJob
from viz.context import WidgetContext
from viz.jobs import JobBoard
from viz.request_builder import build_request
from widgets.common import help_marker, option_combo, section
from widgets.inspect_common import ProductMemory
from widgets.mesh_view_panel import MeshViewPanel
from widgets.pose_gizmo import GIZMO_JOINTS, draw_gizmo

RESOLUTIONS = (64, 96, 128, 192, 256, 384, 512)  # grid samples per side; memory and time grow with the cube
SPACES = ("canonical", "posed")
VIEW_MODES = ("lit", "normals", "wireframe")
BODY_COLOR = np.array([0.55, 0.75, 1.0], np.float32)  # see-through body: light blue against the clay surface
BONE_COLOR = (1.0, 0.85, 0.2)  # skeleton bones
HIGHLIGHT_COLOR = (1.0, 0.25, 0.25)  # the neck and head joints the pose sliders turn
EXPORT_FORMATS = (".ply", ".obj", ".glb", "grid .npy")  # the order of InspectState.export_formats


def skeleton_lines(joints: np.ndarray, parents: np.ndarray, highlighted: tuple[int, ...]) -> np.ndarray:
    """Line vertex data [2K, 9] of the bones (parent -> joint) of `joints: [J, 3]`; bones into `highlighted` in red."""
    children = np.array([index for index, parent in enumerate(parents) if parent >= 0])
    pairs = np.stack([np.asarray(parents)[children], children], axis=1)
    lines = segment_vertices(joints, pairs, BONE_COLOR)
    for bone, child in enumerate(children):
        if child in highlighted:
            lines[2 * bone:2 * bone + 2, 6:9] = HIGHLIGHT_COLOR
    return lines


class MeshWidget:
    """Edits `state.inspect.mesh_*` and `export_*`; runs mesh jobs through the controller's JobBoard."""

    def __init__(self, context: WidgetContext, jobs: JobBoard):
        self.context = context
        self.jobs = jobs  # the controller's job API of the render worker
        self.view = MeshViewPanel()
        self.memory = ProductMemory()  # the newest body_mesh product
        self.job_id: int | None = None  # the running job
        self.job_exports = False  # the running job writes files
        self.status = None  # newest JobStatus of the running or last job
        self.mesh = None  # MeshProducts of the newest extraction
        self.mesh_uploaded = False  # the view holds `self.mesh`
        self.exported: tuple[str, ...] = ()  # files the last export wrote
        self._body_key: tuple | None = None  # (product identity, space) of the body layers in the view
        self.gizmo_joint = "off"  # joint the rotation gizmo sits on: off | neck | head

    def __call__(self, show: bool) -> None:
        self._follow_job()
        if not show:
            self.view.dragging = False
            return
        inspect = self.context.state.inspect
        self._settings(inspect)
        self._job_controls(inspect)
        if self.mesh is not None and not self.mesh_uploaded:
            view = self.view.ensure_view()
            view.set_mesh("surface", self.mesh.vertices, self.mesh.faces, self.mesh.colors)
            if len(self.mesh.vertices):
                self.view.camera.frame(self.mesh.vertices.min(axis=0), self.mesh.vertices.max(axis=0))
            self.mesh_uploaded = True
        section("View")
        for mode in VIEW_MODES:
            if imgui.radio_button(mode, inspect.mesh_view_mode == mode):
                inspect.mesh_view_mode = mode
            imgui.same_line()
        _, inspect.mesh_show_body = imgui.checkbox("Body and skeleton", inspect.mesh_show_body)
        help_marker("The body model (see-through) and its joints, in the mesh's space; neck and head joints in red.")
        imgui.same_line()
        imgui.set_next_item_width(imgui.get_font_size() * 5)
        self.gizmo_joint = option_combo("Gizmo", self.gizmo_joint, GIZMO_JOINTS)
        help_marker("A rotation gizmo on the neck or head joint: dragging its rings turns the Pose panel's angles.")
        self._body(inspect)
        available = imgui.get_content_region_avail()
        export_height = imgui.get_frame_height_with_spacing() * 4.5
        side = max(min(available.x, available.y - export_height), 64.0)
        self.view((available.x, side), inspect.mesh_view_mode, self._gizmo_overlay(inspect))
        self._export(inspect)

    # ----- parts of the panel -----

    def _settings(self, inspect) -> None:
        width = imgui.get_font_size() * 7
        imgui.set_next_item_width(width)
        inspect.mesh_resolution = option_combo("Resolution", inspect.mesh_resolution, RESOLUTIONS)
        imgui.same_line()
        imgui.set_next_item_width(width)
        inspect.mesh_space = option_combo("Space", inspect.mesh_space, SPACES)
        help_marker("canonical: the rest-pose shape. posed: the shape as the Pose panel's neck and head bend it.")
        imgui.set_next_item_width(width)
        changed, level = imgui.input_float("Iso-level", inspect.mesh_level, 0.5, 5.0, "%.3f")
        if changed:
            inspect.mesh_level = float(level)
        if self.mesh is not None:
            low, high = self.mesh.value_range
            imgui.same_line()
            imgui.text_disabled(f"sigma {low:.2f} .. {high:.2f}")
        _, inspect.mesh_crop = imgui.checkbox("Crop to the render box", inspect.mesh_crop)
        imgui.set_next_item_width(width)
        changed, sigma = imgui.slider_float("Grid smoothing", inspect.mesh_grid_smoothing, 0.0, 3.0, "%.1f vox")
        if changed:
            inspect.mesh_grid_smoothing = float(sigma)
        imgui.same_line()
        imgui.set_next_item_width(width)
        changed, steps = imgui.slider_int("Taubin steps", inspect.mesh_taubin_steps, 0, 50)
        if changed:
            inspect.mesh_taubin_steps = int(steps)

    def _job_controls(self, inspect) -> None:
        running = self.job_id is not None
        imgui.begin_disabled(running)
        if imgui.button("Extract"):
            self._start(self._job(inspect))
        imgui.end_disabled()
        imgui.same_line()
        if running:
            if imgui.button("Cancel"):
                self.jobs.cancel(self.job_id)
            imgui.same_line()
            fraction = self.status.fraction if self.status is not None else 0.0
            message = self.status.message if self.status is not None else "starting"
            imgui.progress_bar(fraction, (-1.0, 0.0), f"{fraction * 100:.0f}% {message}")
        elif self.status is not None:
            self._status_line()
        else:
            imgui.text_disabled("no mesh yet")

    def _status_line(self) -> None:
        status = self.status
        if status.state == "error":
            imgui.push_style_color(imgui.Col_.text, (1.0, 0.45, 0.4, 1.0))
            imgui.text_wrapped(status.error or "failed")
            imgui.pop_style_color()
        elif status.state == "done" and status.result is not None:
            timings = status.result.timings_ms
            total = sum(value for key, value in timings.items() if key != "export")
            imgui.text(f"{status.message} ({total:.0f} ms)")
        else:
            imgui.text(status.message or status.state)

    def _export(self, inspect) -> None:
        section("Export")
        imgui.set_next_item_width(-imgui.get_font_size() * 5)
        _, inspect.export_folder = imgui.input_text_with_hint("Folder", self._default_folder(), inspect.export_folder)
        formats = list(inspect.export_formats)
        for index, name in enumerate(EXPORT_FORMATS):
            if index:
                imgui.same_line()
            changed, on = imgui.checkbox(name, formats[index] > 0.5)
            if changed:
                formats[index] = 1.0 if on else 0.0
        inspect.export_formats = tuple(formats)
        chosen = [name for name, on in zip(EXPORT_FORMATS[:3], formats[:3]) if on > 0.5]
        imgui.begin_disabled(self.job_id is not None or not (chosen or formats[3] > 0.5))
        if imgui.button("Export"):
            job = self._job(inspect).replace(out_dir=str(self._folder(inspect)), formats=tuple(chosen),
                                             save_grid=formats[3] > 0.5, stem=self._stem())
            self._start(job, exports=True)
        imgui.end_disabled()
        if self.exported:
            imgui.same_line()
            imgui.text_disabled(f"wrote {', '.join(Path(path).name for path in self.exported)}")

    def _body(self, inspect) -> None:
        """Keeps the body and skeleton layers in step with the newest "body_mesh" extra and the chosen space."""
        view = self.view.ensure_view()
        if inspect.mesh_show_body:
            self.context.wanted_extras.add("body_mesh")
        product = self.memory.get(self.context.info.extras, "body_mesh")
        if product is not None and (id(product), inspect.mesh_space) != self._body_key:
            posed = inspect.mesh_space == "posed"
            vertices = product["posed_vertices" if posed else "vertices"]
            joints = product["posed_joints" if posed else "joints"]
            view.set_mesh("body", vertices, product["faces"], np.broadcast_to(BODY_COLOR, vertices.shape), alpha=0.3)
            view.set_lines("skeleton", skeleton_lines(joints, product["parents"],
                                                      (product["neck_index"], product["head_index"])))
            if self.mesh is None:
                self.view.camera.frame(vertices.min(axis=0), vertices.max(axis=0))
            self._body_key = (id(product), inspect.mesh_space)
        for layer in ("body", "skeleton"):
            view.set_visible(layer, inspect.mesh_show_body)

    def _gizmo_overlay(self, inspect):
        """The gizmo drawing callback for the view, or None when off or before the body has arrived."""
        product = self.memory.get(self.context.info.extras, "body_mesh")
        if self.gizmo_joint == "off" or product is None:
            return None
        joints = product["posed_joints" if inspect.mesh_space == "posed" else "joints"]
        position = joints[product[f"{self.gizmo_joint}_index"]]
        pose = self.context.state.pose

        def overlay(x: float, y: float, width: float, height: float, draw_list) -> None:
            draw_gizmo(pose, self.gizmo_joint, position, self.view.camera, (x, y, width, height), draw_list)

        return overlay

    # ----- jobs -----

    def _job(self, inspect) -> MeshJob:
        request = build_request(self.context.state, self.context.info.device)
        return MeshJob(request=request, space=inspect.mesh_space, resolution=inspect.mesh_resolution,
                       level=inspect.mesh_level, crop=inspect.mesh_crop, grid_smoothing=inspect.mesh_grid_smoothing,
                       taubin_steps=inspect.mesh_taubin_steps, formats=())

    def _start(self, job: MeshJob, exports: bool = False) -> None:
        job_id = self.jobs.start(job, "mesh")
        if job_id is None:
            return
        self.job_id = job_id
        self.job_exports = exports
        self.status = None

    def _follow_job(self) -> None:
        """Takes the running job's newest status; a finished job's mesh replaces the shown one."""
        if self.job_id is None:
            return
        status = self.jobs.progress(self.job_id)
        if status is None:
            return
        self.status = status
        if not status.finished:
            return
        self.job_id = None
        if status.state == "done" and status.result is not None:
            self.mesh, self.mesh_uploaded = status.result, False
            if self.job_exports:
                self.exported = status.result.paths
                self.context.info.message(f"mesh written to {', '.join(status.result.paths)}")
        elif status.state == "error":
            self.context.info.message(status.error or "mesh job failed", "error")

    def _folder(self, inspect) -> Path:
        return Path(inspect.export_folder or self._default_folder()).expanduser()

    def _default_folder(self) -> str:
        return str(Path(self.context.info.capture_folder).parent / "meshes")

    def _stem(self) -> str:
        latent = self.context.state.latent
        return f"mesh_seed{latent.seed}_{self.context.state.inspect.mesh_space}"
