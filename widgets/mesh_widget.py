"""Mesh panel: extract the iso-surface as a background job (progress, Cancel), look at it in 3D, export it.

The jobs and their results are the controller's `MeshSession` (viz/mesh_session.py); this panel edits the
settings, posts extract / export / cancel to it and draws the finished arrays in the GL mesh view.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from imgui_bundle import imgui

from renderer.products import BODY_MESH
from viz.context import WidgetContext
from viz.gl.mesh_buffers import segment_vertices
from viz.mesh_session import MeshSession
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
    """Edits `state.inspect.mesh_*` and `export_*`; extracts and exports through the controller's MeshSession."""

    def __init__(self, context: WidgetContext, session: MeshSession):
        self.context = context
        self.session = session  # the jobs, the newest mesh and the exported files
        self.view = MeshViewPanel()
        self.memory = ProductMemory()  # the newest body_mesh product
        self._uploaded = 0  # `session.meshes_made` when the view's surface was last set
        self._body_key: tuple | None = None  # (product identity, space) of the body layers in the view
        self.gizmo_joint = "off"  # joint the rotation gizmo sits on: off | neck | head

    @property
    def mesh(self):
        """MeshProducts of the newest extraction (the session's)."""
        return self.session.mesh

    def __call__(self) -> None:
        inspect = self.context.state.inspect
        self._settings(inspect)
        self._job_controls()
        mesh = self.session.mesh
        if mesh is not None and self._uploaded != self.session.meshes_made:
            view = self.view.ensure_view()
            view.set_mesh("surface", mesh.vertices, mesh.faces, mesh.colors)
            if len(mesh.vertices):
                self.view.camera.frame(mesh.vertices.min(axis=0), mesh.vertices.max(axis=0))
            self._uploaded = self.session.meshes_made
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
        if self.session.mesh is not None:
            low, high = self.session.mesh.value_range
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

    def _job_controls(self) -> None:
        session = self.session
        imgui.begin_disabled(session.running)
        if imgui.button("Extract"):
            session.extract()
        imgui.end_disabled()
        imgui.same_line()
        status = session.status
        if session.running:
            if imgui.button("Cancel"):
                session.cancel()
            imgui.same_line()
            fraction = status.fraction if status is not None else 0.0
            message = status.message if status is not None else "starting"
            imgui.progress_bar(fraction, (-1.0, 0.0), f"{fraction * 100:.0f}% {message}")
        elif status is not None:
            self._status_line(status)
        else:
            imgui.text_disabled("no mesh yet")

    @staticmethod
    def _status_line(status) -> None:
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
        imgui.begin_disabled(self.session.running or not (chosen or formats[3] > 0.5))
        if imgui.button("Export"):
            self.session.export(self._folder(inspect), tuple(chosen), formats[3] > 0.5, self._stem())
        imgui.end_disabled()
        if self.session.exported:
            imgui.same_line()
            imgui.text_disabled(f"wrote {', '.join(Path(path).name for path in self.session.exported)}")

    def _body(self, inspect) -> None:
        """Keeps the body and skeleton layers in step with the newest "body_mesh" extra and the chosen space."""
        view = self.view.ensure_view()
        if inspect.mesh_show_body:
            self.context.wanted_extras.add(BODY_MESH)
        product = self.memory.get(self.context.info.extras, BODY_MESH)
        if product is not None and (id(product), inspect.mesh_space) != self._body_key:
            posed = inspect.mesh_space == "posed"
            vertices, joints = product.surface(posed)
            view.set_mesh("body", vertices, product.faces, np.broadcast_to(BODY_COLOR, vertices.shape), alpha=0.3)
            view.set_lines("skeleton", skeleton_lines(joints, product.parents,
                                                      (product.neck_index, product.head_index)))
            if self.session.mesh is None:
                self.view.camera.frame(vertices.min(axis=0), vertices.max(axis=0))
            self._body_key = (id(product), inspect.mesh_space)
        for layer in ("body", "skeleton"):
            view.set_visible(layer, inspect.mesh_show_body)

    def _gizmo_overlay(self, inspect):
        """The gizmo drawing callback for the view, or None when off or before the body has arrived."""
        product = self.memory.get(self.context.info.extras, BODY_MESH)
        if self.gizmo_joint == "off" or product is None:
            return None
        _, joints = product.surface(inspect.mesh_space == "posed")
        position = joints[product.neck_index if self.gizmo_joint == "neck" else product.head_index]
        pose = self.context.state.pose

        def overlay(x: float, y: float, width: float, height: float, draw_list) -> None:
            draw_gizmo(pose, self.gizmo_joint, position, self.view.camera, (x, y, width, height), draw_list)

        return overlay

    def _folder(self, inspect) -> Path:
        return Path(inspect.export_folder or self._default_folder()).expanduser()

    def _default_folder(self) -> str:
        return str(Path(self.context.info.capture_folder).parent / "meshes")

    def _stem(self) -> str:
        latent = self.context.state.latent
        return f"mesh_seed{latent.seed}_{self.context.state.inspect.mesh_space}"
