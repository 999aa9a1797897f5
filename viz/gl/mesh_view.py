"""An offscreen OpenGL mesh view: named layers drawn into a framebuffer texture that imgui shows with `image`.

Draws on the GUI's main thread in the GUI's GL context (3.3 core); no torch. Modes: "lit" (headlight
Lambert with vertex colours), "normals" (normal as colour) and "wireframe" (lit with dark edges on top).
Layers are triangle meshes (the extracted surface, the body) or line sets (the skeleton, drawn last and
through the surfaces so that joints inside the body stay visible).
"""
from __future__ import annotations

import ctypes
from dataclasses import dataclass

import numpy as np
from OpenGL import GL
from OpenGL.GL import shaders

from viz.gl.mesh_buffers import FLOATS_PER_VERTEX, interleave
from viz.gl.orbit import OrbitCamera

VIEW_MODES = ("lit", "normals", "wireframe")
BACKGROUND = (0.10, 0.10, 0.12, 1.0)  # dark grey, so light clay and colours both read well
EDGE_COLOR = (0.05, 0.05, 0.08)  # wireframe edges

_VERTEX_SHADER = """
#version 330 core
layout(location = 0) in vec3 position;
layout(location = 1) in vec3 normal;
layout(location = 2) in vec3 color;
uniform mat4 view_matrix;
uniform mat4 projection_matrix;
out vec3 view_normal;
out vec3 world_normal;
out vec3 vertex_color;
void main() {
    view_normal = mat3(view_matrix) * normal;
    world_normal = normal;
    vertex_color = color;
    gl_Position = projection_matrix * view_matrix * vec4(position, 1.0);
}
"""

_FRAGMENT_SHADER = """
#version 330 core
in vec3 view_normal;
in vec3 world_normal;
in vec3 vertex_color;
uniform int shading;      // 0 lit, 1 normals, 2 flat colour (wire edges), 3 unlit vertex colour (lines)
uniform vec3 flat_color;
uniform float alpha;
out vec4 fragment;
void main() {
    vec3 n = normalize(view_normal);
    if (!gl_FrontFacing) n = -n;   // open surfaces are lit from both sides
    if (shading == 1) {
        fragment = vec4(0.5 * normalize(world_normal) + 0.5, alpha);
    } else if (shading == 2) {
        fragment = vec4(flat_color, alpha);
    } else if (shading == 3) {
        fragment = vec4(vertex_color, alpha);
    } else {
        float diffuse = max(dot(n, vec3(0.0, 0.0, 1.0)), 0.0);   // a headlight: light comes from the camera
        fragment = vec4(vertex_color * (0.25 + 0.75 * diffuse), alpha);
    }
}
"""


@dataclass
class _Layer:
    vao: int  # vertex array object
    buffers: tuple[int, ...]  # vertex (and index) buffers owned by the layer
    count: int  # indices (triangles) or vertices (lines) to draw
    lines: bool  # GL_LINES instead of indexed triangles
    alpha: float  # < 1 draws blended after the opaque layers
    visible: bool = True


class MeshView:
    """Offscreen renderer of mesh layers; create and use it only while the GUI's GL context is current."""

    def __init__(self):
        self.texture_id: int | None = None  # colour attachment, shown with imgui.image
        self.size: tuple[int, int] = (0, 0)  # (width, height) of the framebuffer
        self.layers: dict[str, _Layer] = {}
        self.draws = 0  # frames drawn (tests check that the view was drawn)
        self.version = 0  # bumped by every change of the layers, so that an unchanged picture is not redrawn
        self._drawn_key: tuple | None = None  # (version, size, camera, mode) of the picture in the texture
        self.keep_pixels = False  # read every drawn picture back into `last_pixels` (tests; costs a read-back)
        self.last_pixels: np.ndarray | None = None  # [H, W, 3] uint8 of the last draw when `keep_pixels`
        self._framebuffer: int | None = None
        self._depth: int | None = None
        self._program: int | None = None

    # ----- content -----

    def set_mesh(self, name: str, vertices: np.ndarray, faces: np.ndarray, colors: np.ndarray | None = None,
                 alpha: float = 1.0) -> None:
        """Replaces layer `name` by a triangle mesh (`vertices: [V, 3]`, `faces: [F, 3]`, `colors: [V, 3]`)."""
        data = interleave(vertices, faces, colors)
        indices = np.ascontiguousarray(faces, dtype=np.uint32)
        self.remove(name)
        vao, vbo = self._vertex_array(data)
        ebo = int(GL.glGenBuffers(1))
        GL.glBindBuffer(GL.GL_ELEMENT_ARRAY_BUFFER, ebo)
        GL.glBufferData(GL.GL_ELEMENT_ARRAY_BUFFER, indices.nbytes, indices, GL.GL_STATIC_DRAW)
        GL.glBindVertexArray(0)
        self.layers[name] = _Layer(vao, (vbo, ebo), indices.size, False, alpha)
        self.version += 1

    def set_lines(self, name: str, line_vertices: np.ndarray) -> None:
        """Replaces layer `name` by line segments: `line_vertices: [2K, 9]` (mesh_buffers.segment_vertices)."""
        self.remove(name)
        vao, vbo = self._vertex_array(np.ascontiguousarray(line_vertices, dtype=np.float32))
        GL.glBindVertexArray(0)
        self.layers[name] = _Layer(vao, (vbo,), len(line_vertices), True, 1.0)
        self.version += 1

    def set_visible(self, name: str, visible: bool) -> None:
        if name in self.layers and self.layers[name].visible != visible:
            self.layers[name].visible = visible
            self.version += 1

    def remove(self, name: str) -> None:
        layer = self.layers.pop(name, None)
        if layer is not None:
            self.version += 1
            GL.glDeleteVertexArrays(1, [layer.vao])
            GL.glDeleteBuffers(len(layer.buffers), list(layer.buffers))

    # ----- drawing -----

    def draw(self, size: tuple[int, int], camera: OrbitCamera, mode: str = "lit") -> int:
        """Draws all visible layers into a (width, height) texture; returns the texture's GL name."""
        if mode not in VIEW_MODES:
            raise ValueError(f"mesh view mode {mode!r} unknown; choose one of {', '.join(VIEW_MODES)}")
        width, height = max(int(size[0]), 1), max(int(size[1]), 1)
        key = (self.version, width, height, repr(camera), mode)
        if key == self._drawn_key and self.texture_id is not None:
            return self.texture_id  # software GL takes tens of ms per frame for a large mesh: draw only on change
        self._ensure_target(width, height)
        previous_framebuffer = GL.glGetIntegerv(GL.GL_FRAMEBUFFER_BINDING)
        previous_viewport = GL.glGetIntegerv(GL.GL_VIEWPORT)
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, self._framebuffer)
        GL.glViewport(0, 0, width, height)
        GL.glClearColor(*BACKGROUND)
        GL.glClear(GL.GL_COLOR_BUFFER_BIT | GL.GL_DEPTH_BUFFER_BIT)
        GL.glEnable(GL.GL_DEPTH_TEST)
        GL.glDisable(GL.GL_CULL_FACE)
        GL.glDisable(GL.GL_SCISSOR_TEST)  # imgui leaves its clip rectangle on
        GL.glUseProgram(self._program)
        self._uniform_matrix("view_matrix", camera.view())
        self._uniform_matrix("projection_matrix", camera.projection(width / height))
        opaque = [layer for layer in self.layers.values() if layer.visible and layer.alpha >= 1.0 and not layer.lines]
        blended = [layer for layer in self.layers.values() if layer.visible and layer.alpha < 1.0]
        for layer in opaque:
            self._draw_layer(layer, mode)
        if blended:
            GL.glEnable(GL.GL_BLEND)
            GL.glBlendFunc(GL.GL_SRC_ALPHA, GL.GL_ONE_MINUS_SRC_ALPHA)
            GL.glDepthMask(GL.GL_FALSE)  # see-through layers do not hide each other
            for layer in blended:
                self._draw_layer(layer, "lit" if mode == "wireframe" else mode)
            GL.glDepthMask(GL.GL_TRUE)
        GL.glDisable(GL.GL_DEPTH_TEST)  # lines (the skeleton) show through the surfaces around them
        for layer in self.layers.values():
            if layer.visible and layer.lines:
                self._draw_layer(layer, mode)
        GL.glUseProgram(0)
        GL.glBindVertexArray(0)
        if self.keep_pixels:
            self.last_pixels = self.read_pixels()
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, int(previous_framebuffer))
        GL.glViewport(*(int(v) for v in previous_viewport))
        self.draws += 1
        self._drawn_key = key
        return self.texture_id

    def read_pixels(self) -> np.ndarray:
        """The last drawn picture as [H, W, 3] uint8, top row first; call in a frame, with the GUI's context current."""
        width, height = self.size
        previous = GL.glGetIntegerv(GL.GL_FRAMEBUFFER_BINDING)
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, self._framebuffer)
        GL.glPixelStorei(GL.GL_PACK_ALIGNMENT, 1)
        data = GL.glReadPixels(0, 0, width, height, GL.GL_RGB, GL.GL_UNSIGNED_BYTE)
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, int(previous))
        return np.ascontiguousarray(np.frombuffer(data, dtype=np.uint8).reshape(height, width, 3)[::-1])

    def release(self) -> None:
        """Deletes every GL object (call while the context is still current)."""
        for name in list(self.layers):
            self.remove(name)
        if self._framebuffer is not None:
            GL.glDeleteFramebuffers(1, [self._framebuffer])
            GL.glDeleteRenderbuffers(1, [self._depth])
            GL.glDeleteTextures([self.texture_id])
        if self._program is not None:
            GL.glDeleteProgram(self._program)
        self._framebuffer = self._depth = self.texture_id = self._program = None
        self.size = (0, 0)
        self._drawn_key = None

    # ----- helpers -----

    def _draw_layer(self, layer: _Layer, mode: str) -> None:
        GL.glBindVertexArray(layer.vao)
        GL.glUniform1f(self._location("alpha"), layer.alpha)
        if layer.lines:
            GL.glUniform1i(self._location("shading"), 3)
            GL.glDrawArrays(GL.GL_LINES, 0, layer.count)
            return
        GL.glUniform1i(self._location("shading"), 1 if mode == "normals" else 0)
        GL.glDrawElements(GL.GL_TRIANGLES, layer.count, GL.GL_UNSIGNED_INT, None)
        if mode == "wireframe":
            GL.glPolygonMode(GL.GL_FRONT_AND_BACK, GL.GL_LINE)
            GL.glEnable(GL.GL_POLYGON_OFFSET_LINE)
            GL.glPolygonOffset(-1.0, -1.0)  # edges win the depth test against their own faces
            GL.glUniform1i(self._location("shading"), 2)
            GL.glUniform3f(self._location("flat_color"), *EDGE_COLOR)
            GL.glDrawElements(GL.GL_TRIANGLES, layer.count, GL.GL_UNSIGNED_INT, None)
            GL.glDisable(GL.GL_POLYGON_OFFSET_LINE)
            GL.glPolygonMode(GL.GL_FRONT_AND_BACK, GL.GL_FILL)

    def _vertex_array(self, data: np.ndarray) -> tuple[int, int]:
        self._ensure_program()
        vao = int(GL.glGenVertexArrays(1))
        GL.glBindVertexArray(vao)
        vbo = int(GL.glGenBuffers(1))
        GL.glBindBuffer(GL.GL_ARRAY_BUFFER, vbo)
        GL.glBufferData(GL.GL_ARRAY_BUFFER, data.nbytes, data, GL.GL_STATIC_DRAW)
        stride = FLOATS_PER_VERTEX * 4
        for location in range(3):
            GL.glEnableVertexAttribArray(location)
            GL.glVertexAttribPointer(location, 3, GL.GL_FLOAT, GL.GL_FALSE, stride, ctypes.c_void_p(12 * location))
        return vao, vbo

    def _ensure_target(self, width: int, height: int) -> None:
        self._ensure_program()
        if self._framebuffer is not None and self.size == (width, height):
            return
        if self._framebuffer is None:
            self._framebuffer = int(GL.glGenFramebuffers(1))
            self._depth = int(GL.glGenRenderbuffers(1))
            self.texture_id = int(GL.glGenTextures(1))
        GL.glBindTexture(GL.GL_TEXTURE_2D, self.texture_id)
        GL.glTexImage2D(GL.GL_TEXTURE_2D, 0, GL.GL_RGBA8, width, height, 0, GL.GL_RGBA, GL.GL_UNSIGNED_BYTE, None)
        GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_MIN_FILTER, GL.GL_LINEAR)
        GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_MAG_FILTER, GL.GL_LINEAR)
        GL.glBindTexture(GL.GL_TEXTURE_2D, 0)
        GL.glBindRenderbuffer(GL.GL_RENDERBUFFER, self._depth)
        GL.glRenderbufferStorage(GL.GL_RENDERBUFFER, GL.GL_DEPTH_COMPONENT24, width, height)
        GL.glBindRenderbuffer(GL.GL_RENDERBUFFER, 0)
        previous = GL.glGetIntegerv(GL.GL_FRAMEBUFFER_BINDING)
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, self._framebuffer)
        GL.glFramebufferTexture2D(GL.GL_FRAMEBUFFER, GL.GL_COLOR_ATTACHMENT0, GL.GL_TEXTURE_2D, self.texture_id, 0)
        GL.glFramebufferRenderbuffer(GL.GL_FRAMEBUFFER, GL.GL_DEPTH_ATTACHMENT, GL.GL_RENDERBUFFER, self._depth)
        status = GL.glCheckFramebufferStatus(GL.GL_FRAMEBUFFER)
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, int(previous))
        if status != GL.GL_FRAMEBUFFER_COMPLETE:
            raise RuntimeError(f"mesh view framebuffer incomplete (status {status:#x}) at {width}x{height}")
        self.size = (width, height)

    def _ensure_program(self) -> None:
        if self._program is not None:
            return
        self._program = int(shaders.compileProgram(
            shaders.compileShader(_VERTEX_SHADER, GL.GL_VERTEX_SHADER),
            shaders.compileShader(_FRAGMENT_SHADER, GL.GL_FRAGMENT_SHADER),
            validate=False,  # validation needs a bound vertex array, which does not exist yet
        ))

    def _location(self, name: str) -> int:
        return GL.glGetUniformLocation(self._program, name)

    def _uniform_matrix(self, name: str, matrix: np.ndarray) -> None:
        GL.glUniformMatrix4fv(self._location(name), 1, GL.GL_TRUE, np.ascontiguousarray(matrix, dtype=np.float32))
