"""A synthetic portrait scene: a shaped, posed body dressed with props, a camera, a light and a backdrop.

`DressedIdentity` holds what is fixed per person (shape, props, colours, all in the canonical frame);
`pose` moves the body by skinning and the props rigidly with the head joint, exactly as the body model
moves its own head, so the canonical ground-truth mesh and every posed image agree.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse
import torch

from core.body import BodyModel
from core.data.appearance import Appearance, Lighting
from core.data.gl_render import vertex_normals
from core.data.props import HEAD_JOINT, HeadAnchors, PropMesh, build_props, neckline_distance


@dataclass(frozen=True)
class SceneSpec:
    """Everything needed to render one image."""

    identity: int  # index of the person (see the dataset's synth.json)
    camera: np.ndarray  # [25] label camera: cam2world (16, OpenCV axes) and normalised intrinsics (9)
    pose: np.ndarray  # [6] neck and head axis-angle, radians
    lighting: Lighting  # light and backdrop

    def label(self) -> np.ndarray:
        """[31] the dataset.json label: camera then pose."""
        return np.concatenate([self.camera, self.pose]).astype(np.float64)


@dataclass(frozen=True)
class PosedMesh:
    """One dressed, posed person in world (aligned) coordinates."""

    vertices: np.ndarray  # [N, 3]
    faces: np.ndarray  # [M, 3]
    colours: np.ndarray  # [N, 3] linear RGB (skin on the body, prop colours)
    band: np.ndarray  # [N] height above the clothing's neckline (< 0: shirt; props are +1)
    head_joint: np.ndarray  # [3] posed head joint
    normals: np.ndarray | None = None  # [N, 3] unit vertex normals (None: the renderer computes them)
    open_faces: int = 0  # trailing faces of open shells (hair), drawn from both sides


class Dresser:
    """Dresses people on one body model; holds the per-body head anchors (computed once, about a second)."""

    def __init__(self, body: BodyModel):
        self.body = body
        self.faces = body.faces.cpu().numpy().astype(np.int64)
        self.skinning_weights = body.skinning_weights.cpu().double().numpy()
        rest = body.canonical_vertices.cpu().double().numpy()
        self.anchors = HeadAnchors.from_body(rest, self.faces, self.skinning_weights)
        # Vertex-by-face incidence: posed body normals are one sparse product per image.
        face_ids = np.repeat(np.arange(len(self.faces)), 3)
        self.incidence = scipy.sparse.csr_matrix(
            (np.ones(face_ids.size), (self.faces.ravel(), face_ids)), shape=(len(rest), len(self.faces))
        )

    def body_normals(self, vertices: np.ndarray) -> np.ndarray:
        """Unit area-weighted vertex normals [V, 3] of the posed body (vertices [V, 3])."""
        corners = vertices[self.faces]
        face_normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
        normals = self.incidence @ face_normals
        return normals / np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)

    def dress(self, look: Appearance) -> "DressedIdentity":
        return self.dress_many([look])[0]

    def dress_many(self, looks: list[Appearance]) -> list["DressedIdentity"]:
        """Dress several people with one body-model call for all their rest shapes."""
        betas = torch.tensor([look.betas for look in looks], dtype=torch.float32, device=self.body.device)
        zero_pose = torch.zeros(len(looks), 6, device=self.body.device)
        with torch.no_grad():
            shaped, joints, _ = self.body.forward_kinematics(zero_pose, betas)
        shaped, joints = shaped.cpu().double().numpy(), joints.cpu().double().numpy()
        return [
            DressedIdentity(self, look, betas[i:i + 1], shaped[i], joints[i, HEAD_JOINT])
            for i, look in enumerate(looks)
        ]


class DressedIdentity:
    """A person: body shape (betas), props and colours, in the canonical frame of the dresser's body."""

    def __init__(
        self, dresser: Dresser, look: Appearance, betas: torch.Tensor, rest_vertices: np.ndarray, head_joint: np.ndarray
    ):
        """Made by `Dresser.dress`: betas [1, 10], rest_vertices [V, 3] shaped rest pose, head_joint [3]."""
        self.dresser = dresser
        self.body = dresser.body
        self.look = look
        self.betas = betas
        self.body_vertices = rest_vertices
        self.head_joint = head_joint
        self.props: PropMesh = build_props(dresser.anchors.surface(self.body_vertices), look)
        # Props move rigidly with the head, so their normals are computed once and rotated per image.
        self.prop_normals = vertex_normals(self.props.vertices, self.props.faces)
        body_count = len(self.body_vertices)
        self.faces = np.concatenate([dresser.faces, self.props.faces + body_count])
        skin = np.broadcast_to(np.asarray(look.skin), (body_count, 3))
        self.colours = np.concatenate([skin, self.props.colours])
        self.band = np.concatenate([neckline_distance(self.body_vertices, look), np.ones(len(self.props.vertices))])

    @property
    def band_colours(self) -> tuple:
        """(clothing, collar trim) colours for the renderer's band."""
        return self.look.shirt_colour, self.look.collar_colour

    def canonical_mesh(self) -> PosedMesh:
        """The ground-truth mesh in the canonical (rest-pose) frame: body and props."""
        vertices = np.concatenate([self.body_vertices, self.props.vertices])
        return PosedMesh(vertices, self.faces, self.colours, self.band, self.head_joint, None, self.props.open_faces)

    def posed_mesh(self, body_vertices: np.ndarray, head_transform: np.ndarray, head_joint: np.ndarray) -> PosedMesh:
        """Assemble a posed person from the body's posed vertices [V, 3] and the head joint's transform [4, 4]."""
        rotation = head_transform[:3, :3]
        props = self.props.vertices @ rotation.T + head_transform[:3, 3]
        normals = np.concatenate([self.dresser.body_normals(body_vertices), self.prop_normals @ rotation.T])
        vertices = np.concatenate([body_vertices, props])
        return PosedMesh(vertices, self.faces, self.colours, self.band, head_joint, normals, self.props.open_faces)


def pose_identities(identities: list[DressedIdentity], poses: np.ndarray) -> list[PosedMesh]:
    """Pose several people in one body-model call: poses [B, 6] radians, one per identity."""
    if not identities:
        return []
    body = identities[0].body
    betas = torch.cat([identity.betas for identity in identities])
    with torch.no_grad():
        vertices, joints, transforms = body.forward_kinematics(
            torch.as_tensor(poses, dtype=torch.float32, device=body.device), betas
        )
    vertices = vertices.cpu().double().numpy()
    joints = joints.cpu().double().numpy()
    transforms = transforms.cpu().double().numpy()
    return [
        identity.posed_mesh(vertices[i], transforms[i, HEAD_JOINT], joints[i, HEAD_JOINT])
        for i, identity in enumerate(identities)
    ]


def composite(rgba: np.ndarray, lighting: Lighting) -> tuple[np.ndarray, np.ndarray]:
    """Premultiplied RGBA [R, R, 4] over the backdrop: (image uint8 [R, R, 3], mask uint8 [R, R, 1])."""
    resolution = rgba.shape[0]
    blend = np.linspace(0.0, 1.0, resolution)[:, None, None]
    backdrop = (1 - blend) * np.asarray(lighting.background_top) + blend * np.asarray(lighting.background_bottom)
    alpha = rgba[..., 3:4]
    image = rgba[..., :3] + backdrop * (1 - alpha)
    return _to_bytes(image), _to_bytes(alpha)


def _to_bytes(values: np.ndarray) -> np.ndarray:
    """[0, 1] floats to rounded uint8."""
    return np.clip(np.rint(values * 255.0), 0, 255).astype(np.uint8)


def project(points: np.ndarray, camera: np.ndarray, resolution: int) -> np.ndarray:
    """Pixel coordinates [N, 2] (column, row; pixel centres at +0.5) of world points [N, 3] under a label camera."""
    cam2world = np.asarray(camera[:16], dtype=np.float64).reshape(4, 4)
    intrinsics = np.asarray(camera[16:25], dtype=np.float64).reshape(3, 3)
    local = (points - cam2world[:3, 3]) @ cam2world[:3, :3]
    normalised = local @ intrinsics.T
    return normalised[:, :2] / normalised[:, 2:3] * resolution
