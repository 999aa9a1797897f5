"""Geometry of the synthetic portraits' props, checked without any GL: ray casts, head surface, hair, winding."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from core.body import load_body_model
from core.data.appearance import Appearance, sample_appearance
from core.data.props import (
    GRID_AZIMUTHS,
    GRID_ELEVATIONS,
    _unit_sphere,
    build_props,
    direction,
    farthest_hits,
    hair_shell,
    neckline_distance,
)
from core.data.scene import Dresser


@pytest.fixture(scope="module")
def dresser():
    return Dresser(load_body_model())


def _signed_volume(vertices: np.ndarray, faces: np.ndarray) -> float:
    corners = vertices[faces]
    return float(np.einsum("ij,ij->i", corners[:, 0], np.cross(corners[:, 1], corners[:, 2])).sum() / 6)


def test_unit_sphere_is_closed_and_wound_outward():
    vertices, faces = _unit_sphere(12, 24)
    np.testing.assert_allclose(np.linalg.norm(vertices, axis=1), 1.0)
    assert 0.95 * 4 / 3 * np.pi < _signed_volume(vertices, faces) < 4 / 3 * np.pi  # outward, inscribed
    edges = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    _, counts = np.unique(edges, axis=0, return_counts=True)
    assert (counts == 2).all()  # closed: every edge shared by exactly two triangles


def test_farthest_hits_on_a_sphere_and_a_miss():
    vertices, faces = _unit_sphere(24, 48)
    rays = direction(np.array([0.0, 40.0, -70.0]), np.array([0.0, 123.0, -45.0]))
    distance, triangle, barycentric = farthest_hits(np.zeros(3), rays, vertices[faces])
    assert np.all((distance > 0.99) & (distance <= 1.0 + 1e-9))  # inscribed polygon: just inside the unit sphere
    hit_points = (vertices[faces[triangle]] * barycentric[..., None]).sum(axis=1)
    np.testing.assert_allclose(hit_points, rays * distance[:, None], atol=1e-9)
    outside = farthest_hits(np.array([5.0, 0.0, 0.0]), np.array([[1.0, 0.0, 0.0]]), vertices[faces])
    assert np.isnan(outside[0][0]) and outside[1][0] == -1


def test_head_surface_interpolates_its_grid_and_wraps(dresser):
    head = dresser.anchors.surface(dresser.body.canonical_vertices.double().numpy())
    np.testing.assert_allclose(head.surface(GRID_ELEVATIONS[5], GRID_AZIMUTHS[7]), head.grid[5, 7], atol=1e-12)
    np.testing.assert_allclose(head.surface(10.0, 180.0), head.surface(10.0, -180.0), atol=1e-12)
    front, back = head.surface(0.0, 0.0), head.surface(0.0, 180.0)
    assert front[2] > 0.08 and back[2] < -0.03  # the face is toward +z
    assert abs(head.surface(0.0, 90.0)[0] + head.surface(0.0, -90.0)[0]) < 0.01  # left/right symmetric


def test_hair_sits_on_the_scalp_and_faces_outward(dresser):
    rest = dresser.body.canonical_vertices.double().numpy()
    head = dresser.anchors.surface(rest)
    look = dataclasses.replace(sample_appearance(np.random.default_rng(0)), hair_style="short", hair_thickness=0.015,
                               hairline_deg=30.0, hair_part=0.0)
    vertices, faces = hair_shell(head, look)
    outer = faces
    corners = vertices[outer]
    normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    outward = (normals * (corners.mean(axis=1) - head.centre)).sum(axis=1)
    assert (outward >= -1e-12).all()  # wound away from the head, so vertex normals point outward
    used = vertices[np.unique(outer)]
    radius = np.linalg.norm(used - head.centre, axis=1)
    directions = (used - head.centre) / radius[:, None]
    elevation = np.degrees(np.arcsin(directions[:, 1]))
    azimuth = np.degrees(np.arctan2(directions[:, 0], directions[:, 2]))
    scalp = np.linalg.norm(head.surface(elevation, azimuth) - head.centre, axis=1)
    assert np.all(radius > scalp + 0.005)  # standing off the scalp by roughly its thickness
    assert hair_shell(head, dataclasses.replace(look, hair_style="bald"))[1].shape == (0, 3)
    # The forehead stays free under a 30-degree hairline (elevations here are seen from a slightly other centre).
    assert (elevation[np.abs(azimuth) < 20] > 25.0).all()


def test_face_props_sit_on_the_face(dresser):
    rest = dresser.body.canonical_vertices.double().numpy()
    head = dresser.anchors.surface(rest)
    look = dataclasses.replace(sample_appearance(np.random.default_rng(1)), hair_style="bald")
    props = build_props(head, look)
    eye_white = np.all(np.isclose(props.colours, (0.92, 0.92, 0.9)), axis=1)
    eyes = props.vertices[eye_white]
    assert eyes[:, 2].min() > head.centre[2] and (eyes[:, 0] > 0).any() and (eyes[:, 0] < 0).any()
    np.testing.assert_allclose(eyes[:, 0].mean(), 0.0, atol=1e-3)  # a symmetric pair on a near-symmetric head


def test_neckline_and_appearance_records():
    look = sample_appearance(np.random.default_rng(2))
    points = np.array([[0.0, 0.1, 0.05], [0.0, -0.2, 0.05], [0.15, -look.neckline + 0.001, -0.05]])
    distance = neckline_distance(points, look)
    assert distance[0] > 0 and distance[1] < 0 and 0 < distance[2] < 0.002
    assert Appearance.from_dict(look.to_dict()) == look
    assert look.mirrored().mirrored() == look and look.mirrored().hair_part == -look.hair_part
    with pytest.raises(ValueError, match="unknown appearance fields"):
        Appearance.from_dict({**look.to_dict(), "hat": 1})


def test_feature_scale_grows_the_face_features_about_their_places(dresser):
    rest = dresser.body.canonical_vertices.double().numpy()
    head = dresser.anchors.surface(rest)
    plain = dataclasses.replace(sample_appearance(np.random.default_rng(3)), hair_style="bald")
    bold = sample_appearance(np.random.default_rng(3), feature_scale=1.5)
    assert dataclasses.replace(bold, hair_style="bald", feature_scale=1.0) == plain  # the scale draws nothing
    meshes = build_props(head, plain), build_props(head, dataclasses.replace(bold, hair_style="bald"))

    def extent(props, colour):
        points = props.vertices[np.all(np.isclose(props.colours, colour), axis=1)]
        return points.max(0) - points.min(0), points.mean(0)

    (mouth_plain, centre_plain), (mouth_bold, centre_bold) = (extent(m, plain.lip_colour) for m in meshes)
    np.testing.assert_allclose(mouth_bold, 1.5 * mouth_plain, rtol=1e-9)  # one ellipsoid, scaled
    np.testing.assert_allclose(centre_bold[:2], centre_plain[:2], atol=1e-9)  # at the same place on the face
    iris_plain, iris_bold = (extent(m, plain.eye_colour)[0] for m in meshes)
    np.testing.assert_allclose(iris_bold[1] / iris_plain[1], 1.5, rtol=0.05)  # taller irises (x holds the spacing)
    # Records written before the field existed still load, with features at their original size.
    old_record = {key: value for key, value in plain.to_dict().items() if key != "feature_scale"}
    assert Appearance.from_dict(old_record).feature_scale == 1.0
