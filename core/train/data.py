"""The dataset as training sees it: validated before the first step, split, batched onto the device.

Wraps core.data's reader (engineer D's PortraitDataset, mirrored as the reference's `--mirror True`).
A hashed 5 % of the names is held out for the pose evaluation; a dataset too small to have a held-out
part trains and evaluates on all of it (and says so in the log).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from core.data.check import check_dataset
from core.data.reader import PortraitDataset
from core.data.storage import DatasetError
from core.train.config import TrainingConfig, TrainingError
from core.train.distributed import DistributedContext
from core.train.phases import RealBatch

CACHE_LIMIT_BYTES = 2**30  # decoded images kept in memory up to this size (small datasets read once)


def batch_to_device(items: list[dict], device: torch.device) -> RealBatch:
    """Stack reader items into a RealBatch: images to [-1, 1], masks to [0, 1]."""
    image = torch.from_numpy(np.stack([item["image"] for item in items])).to(device, torch.float32) / 127.5 - 1
    mask = torch.from_numpy(np.stack([item["mask"] for item in items])).to(device, torch.float32) / 255
    camera = torch.from_numpy(np.stack([item["camera"] for item in items])).to(device)
    pose = torch.from_numpy(np.stack([item["pose"] for item in items])).to(device)
    return RealBatch(image=image, mask=mask, camera=camera, pose=pose)


@dataclass
class TrainingData:
    """Training and held-out readers of one dataset."""

    path: Path  # the dataset given on the command line
    train: PortraitDataset  # mirrored training reader
    held_out: PortraitDataset  # unmirrored evaluation reader
    held_out_is_separate: bool  # False when the dataset was too small to hold images out

    def __post_init__(self):
        self._cache: dict[int, dict] = {}
        self._cache_bytes = 0

    @property
    def name(self) -> str:
        """Dataset name for the run folder: the file or folder name without suffix."""
        return self.path.stem if self.path.suffix == ".zip" else self.path.name

    @property
    def size(self) -> int:
        """Images in the training reader, mirrored copies included."""
        return len(self.train)

    @property
    def train_size(self) -> int:
        """Indices the sampler draws from."""
        return len(self.train)

    def describe(self) -> str:
        split = "held out by name hash" if self.held_out_is_separate else "none held out (dataset too small)"
        return (f"dataset {self.path}: {len(self.train.entries)} images at {self.train.resolution} px, mirrored to "
                f"{len(self.train)}; evaluation: {len(self.held_out)} images, {split}")

    def item(self, index: int) -> dict:
        """One training item, decoded once while the cache has room."""
        if index in self._cache:
            return self._cache[index]
        item = self.train[index]
        size = item["image"].nbytes + item["mask"].nbytes
        if self._cache_bytes + size <= CACHE_LIMIT_BYTES:
            self._cache[index] = item
            self._cache_bytes += size
        return item

    def real_batch(self, indices: list[int], device: torch.device) -> RealBatch:
        """Reals of the given training indices on `device`."""
        return batch_to_device([self.item(index) for index in indices], device)

    def held_out_batch(self, count: int, device: torch.device) -> RealBatch:
        """The first `count` held-out images (a fixed set, so evaluations are comparable over time)."""
        count = min(count, len(self.held_out))
        return batch_to_device([self.held_out[index] for index in range(count)], device)

    def labels(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """(cameras [N, 25], poses [N, 6]) of every training index, for the fakes' conditions."""
        cameras, poses = self.train.labels()
        return torch.from_numpy(cameras).to(device), torch.from_numpy(poses).to(device)


def open_training_data(path: str | os.PathLike, masks: str | os.PathLike | None, resolution: int,
                       context: DistributedContext, config: TrainingConfig) -> TrainingData:
    """Validate the dataset (every rank, so that all stop together) and open its readers.

    Raises TrainingError with the dataset checker's errors, each naming its file, before any step is taken.
    """
    path = Path(path)
    # Headers only: decoding every image of a large dataset would delay the start by minutes; a corrupt
    # image still stops training with a DatasetError naming it when it is first read.
    report = check_dataset(path, masks, progress=context.is_main, decode=False)
    if not report.ok:
        listed = "\n  ".join(report.errors[:10])
        more = f"\n  ... and {len(report.errors) - 10} more" if len(report.errors) > 10 else ""
        raise TrainingError(f"dataset {path} is not usable:\n  {listed}{more}\n"
                            f"fix these (details: python -m core.data check {path}) and start again")
    if report.masks_path is None:
        raise TrainingError(f"dataset {path} has no masks; training needs a mask per image "
                            "(give --masks or use a folder written by python -m core.data synth)")
    if report.resolution != resolution:
        raise TrainingError(f"dataset {path} has {report.resolution} px images but the generator makes "
                            f"{resolution} px; choose a preset of that size or resize the data")
    try:
        train = PortraitDataset(path, masks, mirror=True, split="train", resolution=resolution)
        held_out = PortraitDataset(path, masks, mirror=False, split="eval", resolution=resolution)
        separate = True
    except DatasetError as error:
        if "split" not in str(error):
            raise TrainingError(str(error)) from None
        train = PortraitDataset(path, masks, mirror=True, split="all", resolution=resolution)
        held_out = PortraitDataset(path, masks, mirror=False, split="all", resolution=resolution)
        separate = False
    if len(train) < config.batch // context.world_size:
        raise TrainingError(f"dataset {path} has {len(train)} (mirrored) images, fewer than the per-process "
                            f"batch {config.batch // context.world_size}; lower --batch")
    return TrainingData(path=path, train=train, held_out=held_out, held_out_is_separate=separate)
