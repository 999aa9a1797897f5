"""The label format of the reference datasets (reference-spec.md §5) and its validation.

`dataset.json` is `{"labels": [["<relpath>.png", [31 floats]], ...]}`: 16 row-major cam2world numbers
(OpenCV axes), 9 row-major normalised intrinsics, then the 6 pose numbers (neck and head axis-angle,
radians). Images are named `%010d/%010d.png` (1000 per folder), as the reference's dataset tool does.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.data.storage import DatasetError, FileStore

LABELS_FILE = "dataset.json"
CAMERA_LENGTH = 25  # 16 cam2world + 9 intrinsics
POSE_LENGTH = 6  # neck xyz + head xyz axis-angle, radians
LABEL_LENGTH = CAMERA_LENGTH + POSE_LENGTH
ROTATION_TOLERANCE = 1e-3  # |R^T R - I| and |det R - 1| allowed in a stored cam2world


def sample_name(index: int) -> str:
    """The reference dataset tool's name for image `index`: `%010d/%010d.png`, 1000 per folder."""
    return f"{index // 1000:010d}/{index:010d}.png"


@dataclass(frozen=True)
class LabeledName:
    """One entry of dataset.json."""

    name: str  # relative image path inside the image folder or zip
    label: np.ndarray  # [31] float64: camera [25] then pose [6]

    @property
    def camera(self) -> np.ndarray:
        """[25] cam2world (16) and intrinsics (9)."""
        return self.label[:CAMERA_LENGTH]

    @property
    def pose(self) -> np.ndarray:
        """[6] neck and head axis-angle, radians."""
        return self.label[CAMERA_LENGTH:]


def camera_problem(camera: np.ndarray) -> str | None:
    """Why a [25] camera label is unusable, or None when its cam2world is a rigid transform."""
    matrix = np.asarray(camera[:16], dtype=np.float64).reshape(4, 4)
    rotation = matrix[:3, :3]
    orthogonality = np.abs(rotation.T @ rotation - np.eye(3)).max()
    determinant = np.linalg.det(rotation)
    if orthogonality > ROTATION_TOLERANCE or abs(determinant - 1.0) > ROTATION_TOLERANCE:
        return (
            f"cam2world is not a rotation (|R^T R - I| = {orthogonality:.3g}, det R = {determinant:.4g}); "
            "store a rigid camera-to-world matrix, row-major"
        )
    if np.abs(matrix[3] - np.array([0.0, 0.0, 0.0, 1.0])).max() > ROTATION_TOLERANCE:
        return f"cam2world's last row is {matrix[3].tolist()}, expected [0, 0, 0, 1]"
    intrinsics = np.asarray(camera[16:25], dtype=np.float64).reshape(3, 3)
    if intrinsics[0, 0] <= 0 or intrinsics[1, 1] <= 0 or abs(intrinsics[2, 2] - 1.0) > ROTATION_TOLERANCE:
        return f"intrinsics {intrinsics.ravel().tolist()} are not [fx 0 cx; 0 fy cy; 0 0 1] with fx, fy > 0"
    return None


def label_problem(value: object) -> str | None:
    """Why one dataset.json label value is unusable, or None when it is 31 finite numbers and a valid camera."""
    if not isinstance(value, (list, tuple)):
        return f"label is a {type(value).__name__}, expected a list of {LABEL_LENGTH} numbers"
    if len(value) != LABEL_LENGTH:
        return (
            f"label has {len(value)} numbers, expected {LABEL_LENGTH} "
            f"(16 cam2world + 9 intrinsics + 6 pose)"
        )
    if not all(isinstance(number, (int, float)) and not isinstance(number, bool) for number in value):
        return "label contains something that is not a number"
    if not all(math.isfinite(number) for number in value):
        return "label contains a non-finite number (NaN or infinity)"
    return camera_problem(np.asarray(value, dtype=np.float64))


class LabelProblems(list):
    """The messages of `parse_labels`, and in `names` the images whose label was there but rejected (so that a
    check reports them once, for the bad label, not again as unlabelled)."""

    def __init__(self):
        super().__init__()
        self.names: set[str] = set()


def parse_labels(store: FileStore) -> tuple[list[LabeledName], list[str]]:
    """Every well-formed entry of `dataset.json` and a message for every bad one (file-level problems raise)."""
    where = store.describe(LABELS_FILE)
    if not store.exists(LABELS_FILE):
        raise DatasetError(where, "is missing; a dataset needs labels: {\"labels\": [[name, [31 numbers]], ...]}")
    try:
        document = json.loads(store.read_bytes(LABELS_FILE))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DatasetError(where, f"is not valid JSON ({error})") from error
    if not isinstance(document, dict) or not isinstance(document.get("labels"), list):
        raise DatasetError(where, "has no \"labels\" list; expected {\"labels\": [[name, [31 numbers]], ...]}")
    entries: list[LabeledName] = []
    problems = LabelProblems()
    seen: set[str] = set()
    for position, entry in enumerate(document["labels"]):
        if not (isinstance(entry, (list, tuple)) and len(entry) == 2 and isinstance(entry[0], str)):
            problems.append(f"{where}: entry {position} is not [\"name.png\", [31 numbers]]")
            continue
        name, value = entry[0].replace("\\", "/"), entry[1]
        if name in seen:
            problems.append(f"{where}: {name} is labelled twice")
            continue
        seen.add(name)
        problem = label_problem(value)
        if problem is not None:
            problems.append(f"{where}: {name}: {problem}")
            problems.names.add(name)
            continue
        entries.append(LabeledName(name=name, label=np.asarray(value, dtype=np.float64)))
    return entries, problems


def labels_document(entries: list[tuple[str, np.ndarray]]) -> bytes:
    """The bytes of a dataset.json for (name, label[31]) pairs."""
    for name, label in entries:
        problem = label_problem([float(number) for number in label])
        if problem is not None:
            raise ValueError(f"label of {name}: {problem}")
    labels = [[name, [float(number) for number in label]] for name, label in entries]
    return json.dumps({"labels": labels}).encode()


def resolve_dataset(path: str | os.PathLike, masks: str | os.PathLike | None = None) -> tuple[Path, Path | None]:
    """(images, masks) of a dataset given its root folder, its image folder or its image zip.

    A root written by `python -m core.data synth` holds `images/` or `images.zip` and `masks/` or `masks.zip`;
    otherwise `path` is the image folder/zip itself and masks come from `masks` (or are absent).
    """
    path = Path(path)
    if not path.exists():
        raise DatasetError(path, "does not exist; give a dataset folder, an image zip, or a synth output folder")
    if path.is_dir() and not (path / LABELS_FILE).exists():
        for images_name, masks_name in (("images.zip", "masks.zip"), ("images", "masks")):
            if (path / images_name).exists():
                found_masks = path / masks_name
                return path / images_name, Path(masks) if masks else (found_masks if found_masks.exists() else None)
    return path, Path(masks) if masks else None
