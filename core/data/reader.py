"""The training/evaluation reader of portrait datasets: images, masks, camera and pose labels.

Differences from the reference reader (reference-spec.md §5), on purpose:
- masks are paired with images by file name, not by position in two sorted lists;
- folders work as well as uncompressed zips;
- a deterministic held-out split (by a hash of the file name) is available for evaluation.
Mirroring doubles the index list like the reference: index `i >= N` is sample `i - N` flipped along the
width, with its camera mirrored across x = 0 and its pose mirrored (core.camera.mirror_camera / mirror_pose).
"""
from __future__ import annotations

import hashlib
import os

import numpy as np
import torch

from core.camera import mirror_camera, mirror_pose
from core.data.labels import LabeledName, parse_labels, resolve_dataset
from core.data.storage import DatasetError, FileStore

SPLITS = ("all", "train", "eval")


def is_held_out(name: str, eval_fraction: float) -> bool:
    """Whether `name` belongs to the evaluation split: a hash of the name, so the split never shuffles."""
    digest = hashlib.sha1(name.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < eval_fraction


def mirror_label(camera: np.ndarray, pose: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mirror one label across the plane x = 0: camera [25] and pose [6] (numpy in, numpy out)."""
    mirrored_camera = mirror_camera(torch.as_tensor(camera, dtype=torch.float64)[None])[0].numpy()
    mirrored_pose = mirror_pose(torch.as_tensor(pose, dtype=torch.float64)[None])[0].numpy()
    return mirrored_camera.astype(camera.dtype), mirrored_pose.astype(pose.dtype)


class PortraitDataset:
    """A torch-Dataset-like reader; items are dicts of numpy arrays (the default collate stacks them).

    Item keys: `image` uint8 [3, R, R], `mask` uint8 [1, R, R] (absent without masks), `camera` float32 [25],
    `pose` float32 [6], `name` str, `mirrored` bool.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        masks: str | os.PathLike | None = None,
        *,
        mirror: bool = False,
        split: str = "all",
        eval_fraction: float = 0.05,
        resolution: int | None = None,
        require_masks: bool = True,
    ):
        """`path`: image folder/zip or a synth output root; `masks`: mask folder/zip (found beside a synth root);
        `split`: all | train | eval (eval = a hashed `eval_fraction` of the names); `resolution`: expected size."""
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        images_path, masks_path = resolve_dataset(path, masks)
        self.images = FileStore(images_path)
        self.masks = FileStore(masks_path) if masks_path is not None else None
        if self.masks is None and require_masks:
            raise DatasetError(images_path, "has no masks; pass masks=<mask folder or zip> or require_masks=False")
        entries, problems = parse_labels(self.images)
        if problems:
            more = (f" (and {len(problems) - 1} more; run `python -m core.data check {path}`)"
                    if len(problems) > 1 else "")
            raise DatasetError(images_path, problems[0] + more)
        self._check_pairing(entries)
        if split != "all":
            entries = [entry for entry in entries if is_held_out(entry.name, eval_fraction) == (split == "eval")]
        if not entries:
            raise DatasetError(images_path, f"has no images in split {split!r}")
        self.entries: list[LabeledName] = entries
        self.mirror = mirror
        self.resolution = self._check_resolution(resolution)

    def _check_pairing(self, entries: list[LabeledName]) -> None:
        image_names = set(self.images.image_names())
        labelled = {entry.name for entry in entries}
        for name in sorted(labelled - image_names)[:1]:
            raise DatasetError(self.images.describe(name), "is labelled in dataset.json but the image is missing")
        for name in sorted(image_names - labelled)[:1]:
            raise DatasetError(self.images.describe(name), "has no label in dataset.json; add one or remove the image")
        if self.masks is not None:
            mask_names = set(self.masks.image_names())
            for name in sorted(labelled - mask_names)[:1]:
                raise DatasetError(self.masks.describe(name), "is missing: every image needs a mask of the same name")
            for name in sorted(mask_names - labelled)[:1]:
                raise DatasetError(self.masks.describe(name), "is a mask without an image; remove it")

    def _check_resolution(self, expected: int | None) -> int:
        width, height = self.images.image_size(self.entries[0].name)
        where = self.images.describe(self.entries[0].name)
        if width != height or width & (width - 1):
            raise DatasetError(where, f"is {width}x{height}; images must be square with a power-of-two side")
        if expected is not None and width != expected:
            raise DatasetError(where, f"is {width}x{height} but resolution {expected} was asked for; resize the data")
        return width

    def __len__(self) -> int:
        return len(self.entries) * (2 if self.mirror else 1)

    @property
    def names(self) -> list[str]:
        """Relative image names, in index order (without the mirrored half)."""
        return [entry.name for entry in self.entries]

    def labels(self) -> tuple[np.ndarray, np.ndarray]:
        """(camera [len, 25], pose [len, 6]) float32 of every index, mirrored half included."""
        cameras = np.stack([entry.camera for entry in self.entries]).astype(np.float32)
        poses = np.stack([entry.pose for entry in self.entries]).astype(np.float32)
        if self.mirror:
            mirrored_cameras, mirrored_poses = mirror_label(cameras, poses)
            cameras, poses = np.concatenate([cameras, mirrored_cameras]), np.concatenate([poses, mirrored_poses])
        return cameras, poses

    def _read(self, store: FileStore, name: str, channels: int) -> np.ndarray:
        pixels = store.read_image(name, channels)
        if pixels.shape[0] != self.resolution or pixels.shape[1] != self.resolution:
            raise DatasetError(
                store.describe(name),
                f"is {pixels.shape[1]}x{pixels.shape[0]}, the dataset is {self.resolution}x{self.resolution}; "
                "all images and masks must have one size",
            )
        return pixels

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} samples")
        mirrored = index >= len(self.entries)
        entry = self.entries[index - len(self.entries) if mirrored else index]
        image = self._read(self.images, entry.name, 3).transpose(2, 0, 1)
        mask = self._read(self.masks, entry.name, 1).transpose(2, 0, 1) if self.masks is not None else None
        camera = entry.camera.astype(np.float32)
        pose = entry.pose.astype(np.float32)
        if mirrored:
            # Flip along the width, exactly as the reference: the label mirrors across x = 0 with the pixels.
            image = image[:, :, ::-1]
            mask = mask[:, :, ::-1] if mask is not None else None
            camera, pose = mirror_label(camera, pose)
        item = {
            "image": np.ascontiguousarray(image),
            "camera": camera,
            "pose": pose,
            "name": entry.name,
            "mirrored": mirrored,
        }
        if mask is not None:
            item["mask"] = np.ascontiguousarray(mask)
        return item

    def close(self) -> None:
        self.images.close()
        if self.masks is not None:
            self.masks.close()

    def __repr__(self) -> str:
        return (
            f"PortraitDataset({str(self.images.path)!r}, {len(self.entries)} images, {self.resolution}px, "
            f"mirror={self.mirror})"
        )

