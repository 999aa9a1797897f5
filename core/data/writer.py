"""Write a labelled dataset from arrays in the reference layout (images + dataset.json, masks beside them)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.data.labels import LABELS_FILE, labels_document
from core.data.storage import FileSink, encode_png


@dataclass(frozen=True)
class LabeledImage:
    """One sample to write."""

    name: str  # relative path, e.g. "0000000000/0000000000.png"
    image: np.ndarray  # uint8 [R, R, 3]
    label: np.ndarray  # [31] camera (25) then pose (6)
    mask: np.ndarray | None = None  # uint8 [R, R, 1] or [R, R]; None writes no mask


def write_dataset(
    images_path: str | os.PathLike, samples: list[LabeledImage], masks_path: str | os.PathLike | None = None,
    as_zip: bool = False,
) -> tuple[Path, Path | None]:
    """Write images and dataset.json to `images_path` and masks (same names) to `masks_path`; folders or zips."""
    images = FileSink(images_path, as_zip)
    masks = FileSink(masks_path, as_zip) if masks_path is not None else None
    try:
        for sample in samples:
            images.write(sample.name, encode_png(sample.image))
            if masks is not None and sample.mask is not None:
                mask = sample.mask if sample.mask.ndim == 3 else sample.mask[:, :, None]
                masks.write(sample.name, encode_png(mask))
        images.write(LABELS_FILE, labels_document([(sample.name, sample.label) for sample in samples]))
    except BaseException:
        images.abort()
        if masks is not None:
            masks.abort()
        raise
    return images.close(), masks.close() if masks is not None else None
