"""The mesh view's numpy side: orbit camera matrices against analytic answers, vertex normals of known shapes."""
from __future__ import annotations

import math

import numpy as np
import pytest
import trimesh

from viz.gl.mesh_buffers import bounds, check_mesh, interleave, segment_vertices, vertex_normals
from viz.gl.orbit import OrbitCamera, look_at, perspective, project


def test_front_camera_sees_the_target_at_the_image_centre_and_x_to_the_right():
    camera = OrbitCamera(yaw_deg=0.0, pitch_deg=0.0, distance=2.0, target=(0.1, 0.2, 0.0), fov_y_deg=60.0)
    assert np.allclose(camera.eye(), [0.1, 0.2, 2.0])
    pixels = project(np.array([[0.1, 0.2, 0.0], [0.6, 0.2, 0.0], [0.1, 0.7, 0.0]]), camera.view(),
                     camera.projection(1.0), (100, 100))
    assert np.allclose(pixels[0], [50, 50], atol=1e-4)
    # Half a unit at distance 2 with a 60-degree field: 0.5 / (2 tan 30deg) of the half-height.
    offset = 50 * 0.5 / (2 * math.tan(math.radians(30)))
    assert np.allclose(pixels[1], [50 + offset, 50], atol=1e-3), "+x is to the right seen from the front"
    assert np.allclose(pixels[2], [50, 50 - offset], atol=1e-3), "+y is up"


def test_yaw_90_puts_the_camera_on_plus_x_and_pitch_looks_from_above():
    assert np.allclose(OrbitCamera(yaw_deg=90.0, distance=3.0).eye(), [3.0, 0.0, 0.0], atol=1e-9)
    assert np.allclose(OrbitCamera(pitch_deg=30.0, distance=2.0).eye(), [0.0, 1.0, math.sqrt(3.0)], atol=1e-9)


def test_view_matrix_is_a_rigid_motion_that_maps_the_eye_to_the_origin():
    eye, target = np.array([1.0, 2.0, 3.0]), np.array([-0.5, 0.1, 0.2])
    view = look_at(eye, target, np.array([0.0, 1.0, 0.0])).astype(np.float64)
    assert np.allclose(view[:3, :3] @ view[:3, :3].T, np.eye(3), atol=1e-6)
    assert np.allclose(view @ np.append(eye, 1.0), [0, 0, 0, 1], atol=1e-5)
    ahead = view @ np.append(target, 1.0)
    assert ahead[2] < 0 and np.allclose(ahead[:2], 0, atol=1e-5), "the target lies straight ahead on -z"


def test_projection_maps_near_and_far_planes_to_minus_one_and_one():
    projection = perspective(45.0, 1.5, 0.1, 10.0).astype(np.float64)
    for depth, expected in ((0.1, -1.0), (10.0, 1.0)):
        clip = projection @ np.array([0.0, 0.0, -depth, 1.0])
        assert clip[2] / clip[3] == pytest.approx(expected, abs=1e-5)


def test_orbit_zoom_pan_and_framing():
    camera = OrbitCamera(yaw_deg=170.0, pitch_deg=80.0, distance=2.0, fov_y_deg=30.0)
    camera.orbit(-50.0, 100.0)  # 20 degrees more yaw wraps past 180; pitch stops at its limit
    assert camera.yaw_deg == pytest.approx(-170.0) and camera.pitch_deg == pytest.approx(85.0)
    camera.zoom(2.0)
    assert camera.distance == pytest.approx(2.0 * 0.81)
    front = OrbitCamera(distance=2.0, fov_y_deg=60.0)
    front.pan(-10.0, 0.0, viewport_height_px=100.0)  # dragging left moves the scene left: the target goes right
    assert front.target[0] > 0 and front.target[1] == pytest.approx(0.0)
    front.frame(np.array([-1.0, -1.0, -1.0]), np.array([1.0, 3.0, 1.0]))
    radius = math.sqrt(1 + 4 + 1)
    assert np.allclose(front.target, [0, 1, 0]) and front.distance == pytest.approx(radius / math.sin(math.radians(30)))


def test_sphere_normals_point_outward_and_cube_corner_normals_into_their_octant():
    sphere = trimesh.creation.icosphere(subdivisions=2, radius=0.7)
    normals = vertex_normals(sphere.vertices, sphere.faces)
    assert np.allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-5)
    radial = sphere.vertices / np.linalg.norm(sphere.vertices, axis=1, keepdims=True)
    assert (np.sum(normals * radial, axis=1) > 0.99).all()
    cube = trimesh.creation.box()
    corner_normals = vertex_normals(cube.vertices, cube.faces)
    # Area weights: a corner sees each of its 3 faces, so the normal leaves the cube through the corner's octant.
    assert (np.sign(corner_normals) == np.sign(cube.vertices)).all()


def test_interleaved_data_scales_uint8_colours_and_bad_meshes_are_named():
    vertices = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0]], np.float32)
    faces = np.array([[0, 1, 2]])
    data = interleave(vertices, faces, np.array([[255, 0, 0]] * 3, np.uint8))
    assert data.shape == (3, 9) and np.allclose(data[:, 3:6], [0, 0, 1]) and np.allclose(data[:, 6:9], [1, 0, 0])
    with pytest.raises(ValueError, match="face indices must lie in 0..2"):
        check_mesh(vertices, np.array([[0, 1, 3]]), None)
    with pytest.raises(ValueError, match=r"colors must be \[V, 3\]"):
        check_mesh(vertices, faces, np.zeros((2, 3)))
    lower, upper = bounds(vertices)
    assert np.allclose(lower, 0) and np.allclose(upper, [1, 1, 0])
    lines = segment_vertices(vertices, np.array([[0, 1], [1, 2]]), (0.2, 0.4, 0.6))
    assert (lines.shape == (4, 9) and np.allclose(lines[1, :3], [1, 0, 0])
            and np.allclose(lines[:, 6:9], [0.2, 0.4, 0.6]))
