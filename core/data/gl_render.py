"""Offscreen OpenGL rasteriser of coloured triangle meshes for the synthetic dataset (no window, no X server).

The context comes from EGL's surfaceless platform (Mesa llvmpipe on CPU machines) or, failing that, OSMesa.
OpenGL is imported lazily inside functions only: `core/` stays importable without any GL library, and the
platform variable must be set before PyOpenGL is first imported, which only a fresh process guarantees.
The projection reproduces the dataset's pinhole camera exactly: a world point X seen by the label camera
(cam2world in OpenCV axes, normalised intrinsics) lands at pixel ((fx x/z + cx) R, (fy y/z + cy) R).
"""
from __future__ import annotations

import ctypes
import os
import sys

import numpy as np
import torch

NEAR, FAR = 0.5, 10.0  # clip planes in world units; the subject is about 2.7 from the camera
SURFACELESS_PLATFORM = 0x31DD  # EGL_PLATFORM_SURFACELESS_MESA

VERTEX_SHADER = """
#version 330 core
layout(location = 0) in vec3 position;
layout(location = 1) in vec3 normal;
layout(location = 2) in vec3 color;
layout(location = 3) in float band;
uniform mat4 world_to_camera;
uniform vec4 intrinsics;  // fx, fy, cx, cy (normalised)
uniform vec2 depth_range;  // near, far
out vec3 world_normal;
out vec3 base_color;
out vec3 view_direction;
out float band_value;
void main() {
    vec4 p = world_to_camera * vec4(position, 1.0);
    float n = depth_range.x, f = depth_range.y;
    // Image row 0 is the top (v = 0), which is also the first row glReadPixels returns.
    gl_Position = vec4(2.0 * intrinsics.x * p.x + (2.0 * intrinsics.z - 1.0) * p.z,
                       2.0 * intrinsics.y * p.y + (2.0 * intrinsics.w - 1.0) * p.z,
                       (p.z * (f + n) - 2.0 * f * n) / (f - n),
                       p.z);
    world_normal = normal;
    base_color = color;
    band_value = band;
    view_direction = -normalize(p.xyz) * mat3(world_to_camera);
}
"""

FRAGMENT_SHADER = """
#version 330 core
in vec3 world_normal;
in vec3 base_color;
in vec3 view_direction;
in float band_value;
uniform vec3 band_below;  // colour where band < 0 (clothing)
uniform vec3 band_edge;  // colour where 0 <= band < band_width (a trim)
uniform float band_width;
uniform vec3 light_direction;  // unit, from the surface toward the light, world axes
uniform vec3 light_terms;  // ambient, diffuse, specular strengths
out vec4 fragment;
void main() {
    vec3 n = normalize(world_normal);
    vec3 v = normalize(view_direction);
    n = dot(n, v) < 0.0 ? -n : n;  // two-sided: props are open shells
    float diffuse = max(dot(n, light_direction), 0.0);
    float specular = pow(max(dot(reflect(-light_direction, n), v), 0.0), 24.0);
    // The band is decided per pixel so that colour borders (a neckline) are smooth curves.
    vec3 albedo = band_value < 0.0 ? band_below : (band_value < band_width ? band_edge : base_color);
    vec3 shaded = albedo * (light_terms.x + light_terms.y * diffuse) + light_terms.z * specular;
    fragment = vec4(clamp(shaded, 0.0, 1.0), 1.0);
}
"""


def _import_gl():
    """Import PyOpenGL for headless use: EGL unless PYOPENGL_PLATFORM says otherwise."""
    if "OpenGL" not in sys.modules:
        os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
    platform = os.environ.get("PYOPENGL_PLATFORM", "")
    if platform not in ("egl", "osmesa"):
        raise RuntimeError(
            f"offscreen rendering needs PYOPENGL_PLATFORM=egl or osmesa before OpenGL is imported (it is "
            f"{platform!r}); run the synthesiser in a fresh process, e.g. `python -m core.data synth ...`"
        )
    from OpenGL import GL  # lazy: PYOPENGL_PLATFORM must be set first, and core/ imports without GL

    return GL, platform


def _egl_context() -> tuple:
    """A current surfaceless EGL context with desktop OpenGL 3.3 core."""
    # lazy: OpenGL is imported only once the platform is chosen (see _import_gl); core/ imports without GL
    from OpenGL import EGL
    from OpenGL.EGL.EXT.platform_base import eglGetPlatformDisplayEXT

    display = eglGetPlatformDisplayEXT(SURFACELESS_PLATFORM, EGL.EGL_DEFAULT_DISPLAY, None)
    major, minor = EGL.EGLint(), EGL.EGLint()
    if not display or not EGL.eglInitialize(display, ctypes.pointer(major), ctypes.pointer(minor)):
        raise RuntimeError(
            "EGL surfaceless display unavailable; install libegl-mesa0, or use OSMesa "
            "(PORTRAIT_GL_PLATFORM=osmesa for `python -m core.data synth`, PYOPENGL_PLATFORM=osmesa in-process)"
        )
    attributes = (EGL.EGLint * 7)(
        EGL.EGL_SURFACE_TYPE, EGL.EGL_PBUFFER_BIT, EGL.EGL_RENDERABLE_TYPE, EGL.EGL_OPENGL_BIT,
        EGL.EGL_DEPTH_SIZE, 24, EGL.EGL_NONE,
    )
    config, found = EGL.EGLConfig(), EGL.EGLint()
    if not EGL.eglChooseConfig(display, attributes, ctypes.pointer(config), 1,
                               ctypes.pointer(found)) or not found.value:
        raise RuntimeError("no EGL config with an OpenGL pbuffer; check the Mesa EGL installation")
    EGL.eglBindAPI(EGL.EGL_OPENGL_API)
    context_attributes = (EGL.EGLint * 7)(
        EGL.EGL_CONTEXT_MAJOR_VERSION, 3, EGL.EGL_CONTEXT_MINOR_VERSION, 3,
        EGL.EGL_CONTEXT_OPENGL_PROFILE_MASK, EGL.EGL_CONTEXT_OPENGL_CORE_PROFILE_BIT, EGL.EGL_NONE,
    )
    context = EGL.eglCreateContext(display, config, EGL.EGL_NO_CONTEXT, context_attributes)
    if not context or not EGL.eglMakeCurrent(display, EGL.EGL_NO_SURFACE, EGL.EGL_NO_SURFACE, context):
        raise RuntimeError("could not create or bind a surfaceless EGL OpenGL 3.3 context")
    return display, context


def _osmesa_context(size: int) -> tuple:
    """A current OSMesa context (rendering goes to our framebuffer object, the buffer only satisfies OSMesa)."""
    from OpenGL import GL, osmesa  # lazy: only the OSMesa fallback needs it; core/ imports without GL

    context = osmesa.OSMesaCreateContextAttribs(
        [osmesa.OSMESA_FORMAT, osmesa.OSMESA_RGBA, osmesa.OSMESA_DEPTH_BITS, 24,
         osmesa.OSMESA_PROFILE, osmesa.OSMESA_CORE_PROFILE,
         osmesa.OSMESA_CONTEXT_MAJOR_VERSION, 3, osmesa.OSMESA_CONTEXT_MINOR_VERSION, 3, 0],
        None,
    )
    buffer = (ctypes.c_ubyte * (size * size * 4))()
    if not context or not osmesa.OSMesaMakeCurrent(context, buffer, GL.GL_UNSIGNED_BYTE, size, size):
        raise RuntimeError("could not create an OSMesa OpenGL 3.3 context; install libosmesa6")
    return context, buffer


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals [V, 3] of a triangle mesh (vertices [V, 3], faces [F, 3])."""
    points = torch.from_numpy(np.ascontiguousarray(vertices, dtype=np.float32))
    corners = torch.from_numpy(np.ascontiguousarray(faces, dtype=np.int64))
    triangle = points[corners]  # [F, 3, 3]
    face_normals = torch.linalg.cross(triangle[:, 1] - triangle[:, 0], triangle[:, 2] - triangle[:, 0], dim=-1)
    normals = torch.zeros_like(points).index_add_(0, corners.reshape(-1), face_normals.repeat_interleave(3, dim=0))
    return torch.nn.functional.normalize(normals, dim=1, eps=1e-12).numpy()


class OffscreenMeshRenderer:
    """Draws coloured meshes with the dataset's camera into an RGBA image, supersampled for anti-aliasing.

    Create one per process; it holds the GL context. `resolution` is the output side in pixels.
    """

    def __init__(self, resolution: int, supersample: int = 2):
        self.resolution = resolution
        self.supersample = supersample
        self.size = resolution * supersample
        self.GL, self.platform = _import_gl()
        GL = self.GL
        self._context = _egl_context() if self.platform == "egl" else _osmesa_context(self.size)
        self._program = self._link_program()
        self._framebuffer = GL.glGenFramebuffers(1)
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, self._framebuffer)
        color, depth = GL.glGenRenderbuffers(2)
        for buffer, storage, attachment in (
            (color, GL.GL_RGBA8, GL.GL_COLOR_ATTACHMENT0),
            (depth, GL.GL_DEPTH_COMPONENT24, GL.GL_DEPTH_ATTACHMENT),
        ):
            GL.glBindRenderbuffer(GL.GL_RENDERBUFFER, buffer)
            GL.glRenderbufferStorage(GL.GL_RENDERBUFFER, storage, self.size, self.size)
            GL.glFramebufferRenderbuffer(GL.GL_FRAMEBUFFER, attachment, GL.GL_RENDERBUFFER, buffer)
        if GL.glCheckFramebufferStatus(GL.GL_FRAMEBUFFER) != GL.GL_FRAMEBUFFER_COMPLETE:
            raise RuntimeError("offscreen framebuffer is incomplete")
        self._vertex_array = GL.glGenVertexArrays(1)
        GL.glBindVertexArray(self._vertex_array)
        self._vertex_buffer, self._index_buffer = GL.glGenBuffers(2)
        GL.glBindBuffer(GL.GL_ARRAY_BUFFER, self._vertex_buffer)
        GL.glBindBuffer(GL.GL_ELEMENT_ARRAY_BUFFER, self._index_buffer)
        stride = 10 * 4
        for location, width in enumerate((3, 3, 3, 1)):
            GL.glEnableVertexAttribArray(location)
            GL.glVertexAttribPointer(location, width, GL.GL_FLOAT, False, stride, ctypes.c_void_p(12 * location))
        GL.glViewport(0, 0, self.size, self.size)
        GL.glEnable(GL.GL_DEPTH_TEST)
        # Image rows run downward (v = 2y - 1 in clip space), which mirrors the winding: outside faces are CW.
        GL.glEnable(GL.GL_CULL_FACE)
        GL.glFrontFace(GL.GL_CW)
        GL.glClearColor(0.0, 0.0, 0.0, 0.0)
        self._uniforms = {
            name: GL.glGetUniformLocation(self._program, name)
            for name in (
                "world_to_camera", "intrinsics", "depth_range", "light_direction", "light_terms",
                "band_below", "band_edge", "band_width",
            )
        }

    def _link_program(self) -> int:
        GL = self.GL
        program = GL.glCreateProgram()
        for kind, source in ((GL.GL_VERTEX_SHADER, VERTEX_SHADER), (GL.GL_FRAGMENT_SHADER, FRAGMENT_SHADER)):
            shader = GL.glCreateShader(kind)
            GL.glShaderSource(shader, source)
            GL.glCompileShader(shader)
            if not GL.glGetShaderiv(shader, GL.GL_COMPILE_STATUS):
                raise RuntimeError(f"shader compile failed: {GL.glGetShaderInfoLog(shader).decode()}")
            GL.glAttachShader(program, shader)
        GL.glLinkProgram(program)
        if not GL.glGetProgramiv(program, GL.GL_LINK_STATUS):
            raise RuntimeError(f"shader link failed: {GL.glGetProgramInfoLog(program).decode()}")
        GL.glUseProgram(program)
        return program

    def render(
        self,
        vertices: np.ndarray,
        faces: np.ndarray,
        colors: np.ndarray,
        camera: np.ndarray,
        light_direction: np.ndarray,
        light_terms: tuple[float, float, float] = (0.45, 0.6, 0.08),
        band: np.ndarray | None = None,
        band_colours: tuple = ((0.0, 0.0, 0.0), (0.0, 0.0, 0.0)),
        band_width: float = 0.0,
        normals: np.ndarray | None = None,
        two_sided_faces: int = 0,
    ) -> np.ndarray:
        """Premultiplied RGBA float32 [R, R, 4] in [0, 1]; alpha is the anti-aliased coverage (the mask).

        vertices: [V, 3] world; faces: [F, 3] int; colors: [V, 3] linear in [0, 1]; camera: [25] label;
        light_direction: [3] toward the light, world axes; light_terms: ambient, diffuse, specular;
        band: [V] per-vertex value, where it is < 0 the surface takes band_colours[0], where it is in
        [0, band_width) band_colours[1] (None: vertex colours everywhere); normals: [V, 3] unit vertex
        normals (None: computed here). Faces must be counter-clockwise seen from outside: back faces are culled,
        except for the last `two_sided_faces` faces (open shells such as hair).
        """
        GL = self.GL
        normals = vertex_normals(vertices, faces) if normals is None else normals
        interleaved = np.ascontiguousarray(
            np.concatenate([
                vertices.astype(np.float32), normals.astype(np.float32), colors.astype(np.float32),
                np.ones((len(vertices), 1), np.float32) if band is None else band.astype(np.float32)[:, None],
            ], axis=1)
        )
        indices = np.ascontiguousarray(faces, dtype=np.uint32)
        GL.glBufferData(GL.GL_ARRAY_BUFFER, interleaved.nbytes, interleaved, GL.GL_STREAM_DRAW)
        GL.glBufferData(GL.GL_ELEMENT_ARRAY_BUFFER, indices.nbytes, indices, GL.GL_STREAM_DRAW)
        cam2world = np.asarray(camera[:16], dtype=np.float64).reshape(4, 4)
        world_to_camera = np.linalg.inv(cam2world).astype(np.float32)
        intrinsics = np.asarray(camera[16:25], dtype=np.float64).reshape(3, 3)
        light = np.asarray(light_direction, dtype=np.float64)
        GL.glUniformMatrix4fv(self._uniforms["world_to_camera"], 1, GL.GL_TRUE, world_to_camera)
        GL.glUniform4f(self._uniforms["intrinsics"], intrinsics[0, 0], intrinsics[1, 1], intrinsics[0, 2],
                       intrinsics[1, 2])
        GL.glUniform2f(self._uniforms["depth_range"], NEAR, FAR)
        GL.glUniform3f(self._uniforms["light_direction"], *(light / np.linalg.norm(light)))
        GL.glUniform3f(self._uniforms["light_terms"], *light_terms)
        GL.glUniform3f(self._uniforms["band_below"], *band_colours[0])
        GL.glUniform3f(self._uniforms["band_edge"], *band_colours[1])
        GL.glUniform1f(self._uniforms["band_width"], band_width)
        GL.glClear(GL.GL_COLOR_BUFFER_BIT | GL.GL_DEPTH_BUFFER_BIT)
        closed = len(indices) - two_sided_faces
        GL.glDrawElements(GL.GL_TRIANGLES, closed * 3, GL.GL_UNSIGNED_INT, None)
        if two_sided_faces:
            GL.glDisable(GL.GL_CULL_FACE)
            GL.glDrawElements(GL.GL_TRIANGLES, two_sided_faces * 3, GL.GL_UNSIGNED_INT, ctypes.c_void_p(closed * 12))
            GL.glEnable(GL.GL_CULL_FACE)
        raw = GL.glReadPixels(0, 0, self.size, self.size, GL.GL_RGBA, GL.GL_UNSIGNED_BYTE)
        pixels = np.frombuffer(raw, dtype=np.uint8).reshape(self.resolution, self.supersample, self.resolution, -1, 4)
        # The background is cleared to zero, so averaging the sub-pixels gives premultiplied colour and coverage.
        summed = pixels.sum(axis=(1, 3), dtype=np.uint32).astype(np.float32)
        return summed * (1.0 / (255.0 * self.supersample**2))
