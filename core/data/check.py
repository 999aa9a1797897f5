"""Validate a portrait dataset and summarise it (`python -m core.data check PATH`, and the GUI's training panel).

Every problem found is reported with the file it is in and what to do about it; the summary gives the
count, the resolution, and text histograms of yaw, pitch and the six pose angles.
"""
from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from core.camera import camera_yaw_pitch_deg
from core.data.labels import parse_labels, resolve_dataset
from core.data.storage import DatasetError, FileStore

POSE_NAMES = ("neck x", "neck y", "neck z", "head x", "head y", "head z")
MAX_LISTED_ERRORS = 50  # longer lists are cut, with a count of the rest


@dataclass
class DatasetReport:
    """What `check_dataset` found."""

    images_path: str  # the image folder or zip that was checked
    masks_path: str | None  # the mask folder or zip, None when the dataset has none
    count: int = 0  # labelled images that exist
    resolution: int | None = None  # side of the (square) images, None when unknown
    errors: list[str] = field(default_factory=list)  # problems that make the dataset unusable, each naming a file
    yaw_deg: np.ndarray = field(default_factory=lambda: np.zeros(0))  # [count] camera yaw, (-180, 180]
    pitch_deg: np.ndarray = field(default_factory=lambda: np.zeros(0))  # [count] camera pitch
    pose_deg: np.ndarray = field(default_factory=lambda: np.zeros((0, 6)))  # [count, 6] pose angles in degrees

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        """A multi-line text summary: counts, resolution, histograms, then the errors."""
        lines = [f"images: {self.images_path}", f"masks:  {self.masks_path or '(none)'}"]
        lines.append(f"count: {self.count}   resolution: {self.resolution or '?'}")
        if self.count:
            lines += ["yaw (degrees, 0 = front, 90 = subject's left, 180 = back):"]
            lines += text_histogram(self.yaw_deg, np.arange(-180, 181, 30))
            lines += ["pitch (degrees, > 0 from above):"]
            lines += text_histogram(self.pitch_deg, np.arange(-45, 46, 15))
            for column, name in enumerate(POSE_NAMES):
                values = self.pose_deg[:, column]
                lines.append(
                    f"pose {name:<6}: mean {values.mean():+6.1f}  std {values.std():5.1f}  "
                    f"min {values.min():+6.1f}  max {values.max():+6.1f} degrees"
                )
        shown = self.errors[:MAX_LISTED_ERRORS]
        lines.append(f"errors: {len(self.errors)}" if self.errors else "no problems found")
        lines += [f"  {error}" for error in shown]
        if len(self.errors) > len(shown):
            lines.append(f"  ... and {len(self.errors) - len(shown)} more")
        return "\n".join(lines)


def text_histogram(values: np.ndarray, edges: np.ndarray, width: int = 40) -> list[str]:
    """One line per bin, `[lo, hi)  count  ####`; values outside the edges are counted in the end bins."""
    counts, _ = np.histogram(np.clip(values, edges[0], edges[-1]), bins=edges)
    peak = max(int(counts.max()), 1)
    return [
        f"  [{low:+5.0f}, {high:+5.0f})  {count:6d}  {'#' * round(width * count / peak)}"
        for low, high, count in zip(edges[:-1], edges[1:], counts)
    ]


def _check_images(
    store: FileStore, names: list[str], kind: str, errors: list[str], progress: bool, decode: bool
) -> Counter:
    """Read every image (fully when `decode`); unreadable ones become errors. Returns a count per (width, height)."""
    sizes: Counter = Counter()
    for name in tqdm(names, desc=f"reading {kind}s", unit="img", disable=not progress, leave=False):
        try:
            sizes[store.image_size(name, decode)] += 1
        except DatasetError as error:
            errors.append(f"{error} ({kind})")
    return sizes


def check_dataset(
    path: str | os.PathLike, masks: str | os.PathLike | None = None, progress: bool = False, decode: bool = True
) -> DatasetReport:
    """Validate labels, images and masks of a dataset (folder, zip, or synth output root); never raises on bad data.

    `progress` shows a progress bar while the images are read (the long part); `decode=False` reads only the
    image headers (several times faster, for a quick look from the GUI) and so misses corrupt pixel data."""
    try:
        images_path, masks_path = resolve_dataset(path, masks)
        report = DatasetReport(str(images_path), str(masks_path) if masks_path else None)
        images = FileStore(images_path)
        mask_store = FileStore(masks_path) if masks_path is not None else None
        entries, problems = parse_labels(images)
    except DatasetError as error:
        return DatasetReport(str(path), str(masks) if masks else None, errors=[str(error)])
    errors = report.errors
    errors += problems
    image_names = set(images.image_names())
    labelled = {entry.name for entry in entries}
    unlabelled = image_names - labelled - getattr(problems, "names", set())  # a rejected label is reported once
    errors += [f"{images.describe(name)}: has no label in dataset.json" for name in sorted(unlabelled)]
    errors += [
        f"{images.describe(name)}: is labelled in dataset.json but the image is missing"
        for name in sorted(labelled - image_names)
    ]
    present = [entry for entry in entries if entry.name in image_names]
    sizes = _check_images(images, [entry.name for entry in present], "image", errors, progress, decode)
    if mask_store is not None:
        mask_names = set(mask_store.image_names())
        errors += [f"{mask_store.describe(name)}: is a mask without an image"
                   for name in sorted(mask_names - image_names)]
        errors += [f"{images.describe(name)}: has no mask of the same name"
                   for name in sorted(image_names - mask_names)]
        sizes += _check_images(mask_store, sorted(mask_names & image_names), "mask", errors, progress, decode)
    if len(sizes) > 1:
        listing = ", ".join(f"{w}x{h} ({count})" for (w, h), count in sizes.most_common())
        errors.append(f"{images_path}: images and masks have mixed sizes: {listing}; resize them to one size")
    if sizes:
        (width, height), _ = sizes.most_common(1)[0]
        report.resolution = width if width == height else None
        if width != height or width & (width - 1):
            errors.append(f"{images_path}: images are {width}x{height}; they must be square with a power-of-two side")
    report.count = len(present)
    if present:
        cameras = torch.as_tensor(np.stack([entry.camera for entry in present]))
        yaw, pitch = camera_yaw_pitch_deg(cameras)
        report.yaw_deg, report.pitch_deg = yaw.numpy(), pitch.numpy()
        report.pose_deg = np.degrees(np.stack([entry.pose for entry in present]))
    images.close()
    if mask_store is not None:
        mask_store.close()
    return report


def check_main(path: Path, masks: Path | None) -> int:
    """The `check` command: print the summary; exit status 1 when there are errors."""
    report = check_dataset(path, masks, progress=True)
    print(report.summary())
    return 0 if report.ok else 1
