"""The 3D view inside the mesh panel: a MeshView texture with orbit (drag), pan (shift- or right-drag), zoom (wheel)."""
from __future__ import annotations

from typing import Callable

from imgui_bundle import imgui

from viz.gl.mesh_view import MeshView
from viz.gl.orbit import OrbitCamera
from widgets.pose_gizmo import begin_gizmo_frame, gizmo_in_use, gizmo_over

# Draws over the view: (screen origin x, y, width, height, draw list).
Overlay = Callable[[float, float, float, float, object], None]


class MeshViewPanel:
    """Owns the GL view and its camera; `__call__` draws it filling `size` and handles the mouse."""

    def __init__(self):
        self.view: MeshView | None = None  # created on the first draw, when the GUI's GL context is current
        self.camera = OrbitCamera(yaw_deg=30.0, pitch_deg=15.0)  # three-quarter view: depth reads at once
        self.dragging = False  # the mouse is moving the camera
        self._gizmo_hovered = False  # the overlay's gizmo was under the mouse last frame

    def ensure_view(self) -> MeshView:
        if self.view is None:
            self.view = MeshView()
        return self.view

    def __call__(self, size: tuple[float, float], mode: str, overlay: Overlay | None = None) -> None:
        view = self.ensure_view()
        width, height = max(int(size[0]), 16), max(int(size[1]), 16)
        texture_id = view.draw((width, height), self.camera, mode)
        origin = imgui.get_cursor_screen_pos()
        io = imgui.get_io()
        if gizmo_in_use():
            # The drag belongs to the gizmo; an active item tells the app that the user is editing (previews,
            # one undo step for the whole drag) without moving the camera.
            imgui.invisible_button("mesh view", (width, height))
            imgui.internal.set_active_id(imgui.get_item_id(), imgui.internal.get_current_window())
            self.dragging = False
        elif self._gizmo_hovered and not self.dragging:
            # ImGuizmo only takes a click that no imgui item claims: leave the area to it.
            imgui.dummy((width, height))
        else:
            imgui.invisible_button("mesh view", (width, height),
                                   imgui.ButtonFlags_.mouse_button_left | imgui.ButtonFlags_.mouse_button_right)
            self.dragging = imgui.is_item_active()
            if self.dragging:
                delta = io.mouse_delta
                if io.key_shift or imgui.is_mouse_down(imgui.MouseButton_.right):
                    self.camera.pan(delta.x, delta.y, height)
                else:
                    self.camera.orbit(delta.x, delta.y)
            if imgui.is_item_hovered() and io.mouse_wheel:
                self.camera.zoom(io.mouse_wheel)
        draw = imgui.get_window_draw_list()
        # The framebuffer's first row is the picture's bottom: flip v.
        draw.add_image(imgui.ImTextureRef(texture_id), origin, (origin.x + width, origin.y + height), (0, 1), (1, 0))
        if overlay is None:
            self._gizmo_hovered = False
            return
        begin_gizmo_frame()
        overlay(origin.x, origin.y, float(width), float(height), draw)
        self._gizmo_hovered = gizmo_over()
