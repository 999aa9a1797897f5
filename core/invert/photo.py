"""Photos and masks for inversion: read, check, crop to a square and resize to the model's resolution.

No torch: the GUI's Invert panel uses the same reading and cropping to show the photo beside the render.
Every refusal is an `InvertInputError` whose text names the file and says what to change.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

MIN_PHOTO_SIDE = 32  # pixels: smaller photos hold too little of a face to fit
MAX_PHOTO_PIXELS = 64_000_000  # a 8000 x 8000 photo; larger ones are refused before decoding
BACKGROUND_DISTANCE = 0.12  # colour distance (0-1 per channel, Euclidean) from the background plane = foreground
MIN_ESTIMATED_SHARE, MAX_ESTIMATED_SHARE = 0.03, 0.97  # an estimated mask outside these covers nothing useful


class InvertInputError(ValueError):
    """A photo, mask, crop or checkpoint that cannot be inverted; the message names it and the fix."""


@dataclass(frozen=True)
class Crop:
    """A square of the photo in its own pixels: left and top corner and side length."""

    left: int
    top: int
    size: int

    def as_tuple(self) -> tuple[int, int, int]:
        return (self.left, self.top, self.size)


def centre_crop(width: int, height: int) -> Crop:
    """The largest centred square of a width x height photo."""
    size = min(width, height)
    return Crop((width - size) // 2, (height - size) // 2, size)


def check_crop(crop: Crop, width: int, height: int, where: str) -> Crop:
    """`crop` if it lies inside the photo, else InvertInputError naming the photo and its size."""
    if crop.size < MIN_PHOTO_SIDE or crop.left < 0 or crop.top < 0 or crop.left + crop.size > width \
            or crop.top + crop.size > height:
        raise InvertInputError(f"{where}: the crop (left {crop.left}, top {crop.top}, size {crop.size}) must lie "
                               f"inside the {width}x{height} photo and be at least {MIN_PHOTO_SIDE} pixels")
    return crop


def parse_crop(text: str) -> Crop:
    """'LEFT,TOP,SIZE' in pixels (the --crop option)."""
    try:
        left, top, size = (int(part) for part in text.split(","))
    except ValueError:
        raise InvertInputError(f"--crop {text!r}: give LEFT,TOP,SIZE in pixels, e.g. --crop 40,10,512") from None
    return Crop(left, top, size)


def _open_image(path: Path, what: str):
    if not path.is_file():
        raise InvertInputError(f"{path}: no such {what} file")
    try:
        image = Image.open(path)
    except UnidentifiedImageError:
        raise InvertInputError(f"{path}: not an image file; give a PNG or JPEG {what}") from None
    except OSError as error:
        raise InvertInputError(f"{path}: cannot read the {what} ({error})") from None
    width, height = image.size
    if width * height > MAX_PHOTO_PIXELS:
        raise InvertInputError(f"{path}: the {what} is {width}x{height}, more than the {MAX_PHOTO_PIXELS // 10**6} "
                               "million pixels allowed; scale it down first")
    if min(width, height) < MIN_PHOTO_SIDE:
        raise InvertInputError(f"{path}: the {what} is {width}x{height}; it needs at least {MIN_PHOTO_SIDE} pixels "
                               "per side")
    try:
        image.load()
    except (OSError, SyntaxError, ValueError) as error:
        raise InvertInputError(f"{path}: the {what} file is damaged ({error})") from None
    return image


def read_photo(path: str | os.PathLike) -> np.ndarray:
    """The photo as uint8 [H, W, 3] (alpha dropped, greyscale expanded)."""
    return np.asarray(_open_image(Path(path), "photo").convert("RGB"))


def read_mask(path: str | os.PathLike, photo_size: tuple[int, int]) -> np.ndarray:
    """The mask as float32 [H, W] in [0, 1] (white = the person); it must have the photo's (width, height)."""
    image = _open_image(Path(path), "mask")
    if image.size != tuple(photo_size):
        raise InvertInputError(f"{path}: the mask is {image.size[0]}x{image.size[1]} but the photo is "
                               f"{photo_size[0]}x{photo_size[1]}; give a mask of the photo's size")
    if image.mode in ("RGBA", "LA"):
        values = np.asarray(image.getchannel("A"), dtype=np.float32)
    else:
        values = np.asarray(image.convert("L"), dtype=np.float32)
    return values / 255.0


def crop_and_resize(pixels: np.ndarray, crop: Crop, resolution: int) -> np.ndarray:
    """The square `crop` of uint8 [H, W, 3] or float [H, W] pixels, resized (area filter) to resolution^2."""
    square = pixels[crop.top:crop.top + crop.size, crop.left:crop.left + crop.size]
    if square.dtype == np.uint8:
        return np.asarray(Image.fromarray(square).resize((resolution, resolution), Image.Resampling.BOX))
    image = Image.fromarray(square.astype(np.float32), mode="F")
    return np.asarray(image.resize((resolution, resolution), Image.Resampling.BOX), dtype=np.float32)


def estimate_mask(pixels: np.ndarray) -> np.ndarray | None:
    """A foreground estimate of uint8 [R, R, 3], or None when it covers almost nothing or almost everything.

    The background is modelled as a colour plane (constant + linear in x and y, so gradients are allowed) fitted
    to the top edge and the upper halves of the side edges (shoulders touch the lower sides and the bottom),
    refitted without outliers; pixels farther than BACKGROUND_DISTANCE from it form the person, of which the
    largest connected part is kept with its holes filled.
    """
    from scipy import ndimage  # lazy: scipy is slow to import and only the mask estimate needs it

    colours = pixels.astype(np.float32) / 255.0
    side = colours.shape[0]
    ys, xs = np.mgrid[0:side, 0:side] / max(side - 1, 1)
    border = np.zeros((side, side), dtype=bool)
    border[:2, :] = True
    border[:side // 2, :2] = True
    border[:side // 2, -2:] = True
    design = np.stack([np.ones(int(border.sum())), xs[border], ys[border]], axis=1)
    samples = colours[border]
    keep = np.ones(len(samples), dtype=bool)
    for _ in range(3):  # refit without the border pixels that belong to the person (hair over the top edge)
        plane = np.linalg.lstsq(design[keep], samples[keep], rcond=None)[0]
        residual = np.linalg.norm(design @ plane - samples, axis=1)
        keep = residual < max(3.0 * float(np.median(residual)), 0.02)
    background = np.stack([np.ones(side * side), xs.ravel(), ys.ravel()], axis=1) @ plane
    distance = np.linalg.norm(colours.reshape(-1, 3) - background, axis=1).reshape(side, side)
    foreground = distance > BACKGROUND_DISTANCE
    labels, count = ndimage.label(foreground)
    if count:
        sizes = ndimage.sum(foreground, labels, range(1, count + 1))
        foreground = ndimage.binary_fill_holes(labels == 1 + int(np.argmax(sizes)))
    mask = foreground.astype(np.float32)
    share = float(mask.mean())
    return mask if MIN_ESTIMATED_SHARE <= share <= MAX_ESTIMATED_SHARE else None


@dataclass(frozen=True, eq=False)
class Target:
    """What an inversion fits: the cropped photo at the model's resolution and its mask."""

    image: np.ndarray  # uint8 [R, R, 3]
    mask: np.ndarray | None  # float32 [R, R] in [0, 1], or None (every pixel counts)
    mask_source: str  # "file", "estimated" (from the background colours), or "none"
    crop: Crop  # the square taken from the original photo
    photo_size: tuple[int, int]  # (width, height) of the original photo


def target_from_sample(sample: dict) -> Target:
    """The Target of a PortraitDataset item (already aligned: the whole square, its exact mask)."""
    image = np.ascontiguousarray(sample["image"].transpose(1, 2, 0))
    side = image.shape[0]
    return Target(image, sample["mask"][0].astype(np.float32) / 255, "file", Crop(0, 0, side), (side, side))


def load_target(photo: str | os.PathLike, resolution: int, mask: str | os.PathLike | None = None,
                crop: Crop | None = None) -> Target:
    """Read, check, crop (default: the centred square) and resize a photo and its mask for inversion."""
    pixels = read_photo(photo)
    height, width = pixels.shape[:2]
    crop = check_crop(crop or centre_crop(width, height), width, height, str(photo))
    image = crop_and_resize(pixels, crop, resolution)
    if mask is not None:
        values = crop_and_resize(read_mask(mask, (width, height)), crop, resolution)
        return Target(image, np.clip(values, 0.0, 1.0), "file", crop, (width, height))
    estimated = estimate_mask(image)
    return Target(image, estimated, "estimated" if estimated is not None else "none", crop, (width, height))
