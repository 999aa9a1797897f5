"""A contact sheet of a dataset: a grid of samples sorted by yaw, with yaw, pitch and pose written under each."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from core.camera import camera_yaw_pitch_deg
from core.data.reader import PortraitDataset
from core.data.storage import atomic_write_bytes

CAPTION_LINES = 2
LINE_HEIGHT = 12  # pixels per caption line with PIL's built-in font


def _caption(camera: np.ndarray, pose: np.ndarray) -> list[str]:
    yaw, pitch = camera_yaw_pitch_deg(torch.as_tensor(camera, dtype=torch.float64)[None])
    neck, head = np.degrees(pose[:3]), np.degrees(pose[3:])
    return [
        f"yaw {yaw.item():+4.0f} pitch {pitch.item():+3.0f}",
        "n" + ",".join(f"{v:+.0f}" for v in neck) + " h" + ",".join(f"{v:+.0f}" for v in head),
    ]


def contact_sheet(
    dataset: PortraitDataset, count: int = 24, columns: int = 6, cell: int = 128, with_masks: bool = False
) -> Image.Image:
    """A grid image of `count` samples spread evenly over the dataset and sorted by yaw.

    `cell` is the side of each thumbnail; `with_masks` shows the mask beside every image.
    """
    total = len(dataset.entries)
    picks = np.unique(np.linspace(0, total - 1, min(count, total)).round().astype(int))
    yaws = camera_yaw_pitch_deg(torch.as_tensor(np.stack([dataset.entries[i].camera for i in picks])))[0].numpy()
    picks = picks[np.argsort(yaws, kind="stable")]
    show_masks = with_masks and dataset.masks is not None
    cell_width = cell * (2 if show_masks else 1)
    rows = -(-len(picks) // columns)
    caption_height = CAPTION_LINES * LINE_HEIGHT + 4
    sheet = Image.new("RGB", (columns * cell_width, rows * (cell + caption_height)), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    for slot, index in enumerate(picks):
        item = dataset[int(index)]
        left, top = (slot % columns) * cell_width, (slot // columns) * (cell + caption_height)
        thumbnail = Image.fromarray(item["image"].transpose(1, 2, 0)).resize((cell, cell), Image.LANCZOS)
        sheet.paste(thumbnail, (left, top))
        if show_masks:
            mask = Image.fromarray(item["mask"][0]).resize((cell, cell), Image.LANCZOS).convert("RGB")
            sheet.paste(mask, (left + cell, top))
        for line, text in enumerate(_caption(item["camera"], item["pose"])):
            draw.text((left + 2, top + cell + 2 + line * LINE_HEIGHT), text, fill=(0, 0, 0), font=font)
    return sheet


def preview_main(path: Path, out: Path, count: int, columns: int, cell: int, with_masks: bool) -> int:
    """The `preview` command: write the contact sheet of `path` to `out` (PNG)."""
    dataset = PortraitDataset(path, require_masks=False)
    sheet = contact_sheet(dataset, count=count, columns=columns, cell=cell, with_masks=with_masks)
    buffer = io.BytesIO()
    sheet.save(buffer, format="PNG", optimize=True)
    atomic_write_bytes(Path(out), buffer.getvalue())
    print(f"wrote {out} ({sheet.width}x{sheet.height}, {min(count, len(dataset.entries))} samples)")
    return 0

