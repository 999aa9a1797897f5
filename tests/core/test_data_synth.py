"""The synthetic portrait dataset: labels that reproject onto the pixels, exact masks, mirror consistency.

One spawned rendering worker (its own headless GL context) serves the whole module.
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from core.body import load_body_model
from core.camera import camera_yaw_pitch_deg, mirror_camera, mirror_pose, orbit_camera
from core.data.check import check_dataset
from core.data.labels import sample_name
from core.data.props import HEAD_JOINT
from core.data.reader import PortraitDataset
from core.data.records import identity_mesh, read_record
from core.data.appearance import Lighting
from core.data.scene import Dresser, SceneSpec, pose_identities, project
from core.data.storage import DatasetError
from core.data.synth import SynthesisPool, SynthSettings, sample_appearance_of, sample_scene, synthesize
from core.rendering.rays import generate_rays

RESOLUTION = 64
COUNT = 6
SETTINGS = SynthSettings(resolution=RESOLUTION, seed=3, views_per_identity=2)


@pytest.fixture(scope="module")
def pool():
    with SynthesisPool(SETTINGS, workers=1) as running:
        yield running


@pytest.fixture(scope="module")
def dataset_root(pool, tmp_path_factory):
    return synthesize(tmp_path_factory.mktemp("synth") / "ds", COUNT, SETTINGS, as_zip=True, progress=False, pool=pool)


@pytest.fixture(scope="module")
def dresser():
    return Dresser(load_body_model())


def rasterise(points: np.ndarray, faces: np.ndarray, resolution: int) -> np.ndarray:
    """[R, R] bool: pixel centres covered by any projected triangle (points: [N, 2] pixels), in numpy."""
    corners = points[faces]  # [F, 3, 2]
    low = np.clip(np.ceil(corners.min(axis=1) - 0.5), 0, resolution).astype(int)  # first centre inside the box
    high = np.clip(np.floor(corners.max(axis=1) - 0.5), -1, resolution - 1).astype(int)
    widths, heights = np.maximum(high - low + 1, 0).T
    counts = widths * heights
    triangle = np.repeat(np.arange(len(faces)), counts)
    offset = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    column = low[triangle, 0] + offset % np.maximum(widths[triangle], 1)
    row = low[triangle, 1] + offset // np.maximum(widths[triangle], 1)
    centre = np.stack([column + 0.5, row + 0.5], axis=-1)
    a, b, c = (corners[triangle, k] for k in range(3))

    def edge(p, q):
        return (q[:, 0] - p[:, 0]) * (centre[:, 1] - p[:, 1]) - (q[:, 1] - p[:, 1]) * (centre[:, 0] - p[:, 0])

    e0, e1, e2 = edge(a, b), edge(b, c), edge(c, a)
    inside = ((e0 >= 0) & (e1 >= 0) & (e2 >= 0)) | ((e0 <= 0) & (e1 <= 0) & (e2 <= 0))
    covered = np.zeros((resolution, resolution), dtype=bool)
    covered[row[inside], column[inside]] = True
    return covered


def _near_boundary(silhouette: np.ndarray) -> np.ndarray:
    """Pixels within one pixel of the silhouette's edge."""
    padded = np.pad(silhouette, 1, mode="edge")
    neighbours = [padded[1 + dy:1 + dy + silhouette.shape[0], 1 + dx:1 + dx + silhouette.shape[1]]
                  for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    return np.any([n != silhouette for n in neighbours], axis=0)


def test_output_layout_labels_and_record(dataset_root):
    report = check_dataset(dataset_root)
    assert report.ok, report.errors
    assert report.count == COUNT and report.resolution == RESOLUTION
    dataset = PortraitDataset(dataset_root, resolution=RESOLUTION)
    assert dataset.names == [sample_name(i) for i in range(COUNT)]
    record = read_record(dataset_root)
    assert sorted(record.identities) == [0, 1, 2]  # two views per identity
    assert all(record.identities[i] == sample_appearance_of(SETTINGS, i) for i in range(3))  # exact JSON round trip
    for index, entry in enumerate(dataset.entries):
        # Labels depend only on (seed, index): the same for any number of workers.
        np.testing.assert_allclose(entry.label, sample_scene(SETTINGS, index).label(), atol=1e-6)
        assert record.samples[entry.name][0] == index // 2
    yaw, pitch = camera_yaw_pitch_deg(torch.as_tensor(np.stack([e.camera for e in dataset.entries])))
    assert (pitch.abs() <= 28.0 + 1e-3).all()
    positions = np.stack([e.camera[:16].reshape(4, 4)[:3, 3] for e in dataset.entries])
    distance = np.linalg.norm(positions - np.array([0.0, 0.0649, 0.0]), axis=1)
    assert np.all(np.abs(distance - 2.7) < 0.06)  # radius 2.7 around the jittered look-at point


def test_labels_reproject_onto_mask_and_head(dataset_root, dresser):
    """The rebuilt, posed mesh projected with the label camera is the mask; the head joint lands on the head."""
    dataset = PortraitDataset(dataset_root)
    record = read_record(dataset_root)
    for index in range(COUNT):
        item = dataset[index]
        person = dresser.dress(record.identities[record.samples[item["name"]][0]])
        mesh = pose_identities([person], item["pose"][None].astype(np.float64))[0]
        pixels = project(mesh.vertices, item["camera"], RESOLUTION)
        expected = rasterise(pixels, mesh.faces, RESOLUTION)
        mask = item["mask"][0] > 127
        disagree = expected != mask
        assert disagree.sum() < 0.03 * expected.sum(), f"{item['name']}: {disagree.sum()} pixels differ"
        assert not (disagree & ~_near_boundary(expected)).any(), f"{item['name']}: mask differs away from the edge"
        head_pixel = project(mesh.head_joint[None], item["camera"], RESOLUTION)[0]
        column, row = np.floor(head_pixel).astype(int)
        assert mask[row, column], f"{item['name']}: head joint projects off the person"
        # The training renderer's ray through that pixel passes the head joint within half a pixel.
        origins, directions = generate_rays(torch.as_tensor(item["camera"], dtype=torch.float64)[None], RESOLUTION)
        ray = row * RESOLUTION + column
        offset = mesh.head_joint - origins[0, ray].numpy()
        miss = np.linalg.norm(offset - (offset @ directions[0, ray].numpy()) * directions[0, ray].numpy())
        pixel_size = np.linalg.norm(offset) / (6.5104166 * RESOLUTION)
        assert miss < 0.75 * pixel_size, f"{item['name']}: ray misses the head joint by {miss / pixel_size:.2f} px"
        is_head = dresser.skinning_weights[:, HEAD_JOINT] > 0.9
        head_pixels = pixels[: len(person.body_vertices)][is_head]
        assert (head_pixels.min(axis=0) < head_pixel).all() and (head_pixel < head_pixels.max(axis=0)).all()
        # The posed head joint is the body model's own (props and labels share one kinematic chain).
        joints = dresser.body.joints(torch.as_tensor(item["pose"])[None], person.betas)[0, HEAD_JOINT].numpy()
        np.testing.assert_allclose(mesh.head_joint, joints, atol=1e-5)


def test_mirrored_sample_equals_rendering_the_mirrored_scene(dataset_root, pool):
    dataset = PortraitDataset(dataset_root, mirror=True)
    record = read_record(dataset_root)
    for index in (0, 3):
        flipped = dataset[index + COUNT]
        identity, lighting = record.samples[flipped["name"]]
        camera, pose = flipped["camera"].astype(np.float64), flipped["pose"].astype(np.float64)
        spec = SceneSpec(identity, camera, pose, lighting.mirrored())
        look = record.identities[identity].mirrored()
        ((image, mask),) = pool.render_specs([spec], [look])
        mask_expected, mask_rendered = flipped["mask"][0] > 127, mask[:, :, 0] > 127
        iou = (mask_expected & mask_rendered).sum() / (mask_expected | mask_rendered).sum()
        assert iou > 0.97, f"{flipped['name']}: mirrored silhouette IoU {iou:.3f}"
        difference = np.abs(image.astype(float) - flipped["image"].transpose(1, 2, 0).astype(float))
        assert difference.mean() < 4.0, f"{flipped['name']}: mean pixel difference {difference.mean():.2f}"
        # Mirroring the label twice is the original label (what the reader mirrors is exactly flip_yaw).
        original = dataset[index]
        np.testing.assert_array_equal(mirror_camera(mirror_camera(torch.as_tensor(original["camera"])[None]))[0].numpy(),
                                      original["camera"])
        np.testing.assert_allclose(mirror_pose(torch.as_tensor(original["pose"])[None])[0].numpy(), flipped["pose"])


def test_a_different_scene_does_not_match(dataset_root, pool):
    """Guards the mirror test: rendering the un-mirrored scene does not reproduce the flipped image."""
    dataset = PortraitDataset(dataset_root, mirror=True)
    record = read_record(dataset_root)
    flipped, original = dataset[COUNT + 1], dataset[1]
    identity, lighting = record.samples[original["name"]]
    spec = SceneSpec(identity, original["camera"].astype(np.float64), original["pose"].astype(np.float64), lighting)
    ((image, _),) = pool.render_specs([spec], [record.identities[identity]])
    np.testing.assert_array_equal(image, original["image"].transpose(1, 2, 0))  # rendering is reproducible
    assert np.abs(image.astype(float) - flipped["image"].transpose(1, 2, 0)).mean() > 8.0


def test_identity_mesh_rebuilds_the_canonical_person(dataset_root, dresser):
    record = read_record(dataset_root)
    mesh = identity_mesh(dataset_root, 1, body=dresser.body)
    again = dresser.dress(record.identities[1]).canonical_mesh()
    np.testing.assert_array_equal(mesh.vertices, again.vertices)
    body_count = dresser.body.canonical_vertices.shape[0]
    assert len(mesh.vertices) > body_count and mesh.faces.max() < len(mesh.vertices)
    # Hair, eyes and mouth sit on the head: above the neck, within a head's reach of the head joint.
    props = mesh.vertices[body_count:]
    assert np.linalg.norm(props - mesh.head_joint, axis=1).max() < 0.45
    with pytest.raises(KeyError, match="identity 99"):
        identity_mesh(dataset_root, 99, body=dresser.body)


def test_refuses_to_overwrite(dataset_root, pool):
    with pytest.raises(DatasetError, match="already exists"):
        synthesize(dataset_root, 2, SETTINGS, as_zip=True, progress=False, pool=pool)
    with pytest.raises(ValueError, match="other settings"):
        synthesize(dataset_root / "other", 2, dataclasses.replace(SETTINGS, seed=9), progress=False, pool=pool)


def test_a_worker_that_cannot_start_reports_why(tmp_path, monkeypatch):
    monkeypatch.setenv("PORTRAIT_GL_PLATFORM", "no-such-platform")
    with pytest.raises(RuntimeError, match="could not start.*PYOPENGL_PLATFORM=egl or osmesa"):
        synthesize(tmp_path / "broken", 2, SETTINGS, progress=False)
    assert not (tmp_path / "broken" / "images").exists() or not any((tmp_path / "broken" / "images").rglob("*.png"))


def test_face_front_hair_back_shirt_below(pool, dresser):
    """With ambient light only, pixels show albedo: skin on the cheek from the front, hair on the back of the
    head from behind, the shirt on the chest (so the views are told apart by content, not only by labels)."""
    look = dataclasses.replace(sample_appearance_of(SETTINGS, 0), hair_style="short", hairline_deg=30.0,
                               betas=(0.0,) * 10, skin=(0.8, 0.6, 0.5), hair_colour=(0.1, 0.2, 0.7),
                               shirt_colour=(0.2, 0.7, 0.2))
    flat = Lighting((0.0, 1.0, 0.0), ambient=1.0, diffuse=0.0, specular=0.0,
                    background_top=(1.0, 1.0, 1.0), background_bottom=(1.0, 1.0, 1.0))
    zero_pose = np.zeros(6)
    front = SceneSpec(0, orbit_camera(0.0, 0.0)[0].double().numpy(), zero_pose, flat)
    back = SceneSpec(0, orbit_camera(180.0, 0.0)[0].double().numpy(), zero_pose, flat)
    (front_image, _), (back_image, _) = pool.render_specs([front, back], [look, look])
    person = dresser.dress(look)
    head = dresser.anchors.surface(person.body_vertices)
    chest = person.body_vertices[np.argmin(np.linalg.norm(person.body_vertices - [0.0, -0.13, 0.15], axis=1))]
    for image, spec, point, colour in (
        (front_image, front, head.surface(-22.0, 12.0), look.skin),
        (back_image, back, head.surface(15.0, 180.0), look.hair_colour),
        (front_image, front, chest, look.shirt_colour),
    ):
        column, row = np.floor(project(point[None], spec.camera, RESOLUTION)[0]).astype(int)
        np.testing.assert_allclose(image[row, column], np.asarray(colour) * 255, atol=3)


def test_bad_record_files_are_named(tmp_path):
    with pytest.raises(DatasetError, match=r"synth\.json: is missing"):
        read_record(tmp_path)
    (tmp_path / "synth.json").write_text('{"format": "portrait-synth/1", "identities": {"0": {"skin": 1}}}')
    with pytest.raises(DatasetError, match=r"synth\.json: is not a valid synth record"):
        read_record(tmp_path)
    (tmp_path / "synth.json").write_text('{"format": "something-else"}')
    with pytest.raises(DatasetError, match=r"synth\.json: has format 'something-else'"):
        read_record(tmp_path)


def test_pose_scale_zero_keeps_every_draw_but_the_pose():
    posed = sample_scene(SETTINGS, 5)
    rest = sample_scene(dataclasses.replace(SETTINGS, pose_scale=0.0), 5)
    assert np.abs(posed.pose).max() > 0.01
    np.testing.assert_array_equal(rest.pose, np.zeros(6))
    np.testing.assert_array_equal(rest.camera, posed.camera)
    assert rest.lighting == posed.lighting
