"""Read and write the files of a dataset kept either in a folder or in an uncompressed zip.

Both forms hold the same relative names (`00000/img00000000.png`, `dataset.json`), always with forward
slashes, so the reader, the checker and the synthesiser never care which form they were given.
Writes go to a temporary name and are renamed into place, so a reader never sees half a file.
"""
from __future__ import annotations

import io
import os
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from core.atomic import temporary_beside, write_atomic

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


# Largest image a dataset may hold (4096^2, far above any preset); checked in the header, before decoding.
MAX_IMAGE_PIXELS = 4096 * 4096
BOMB_PROBLEM = (f"more than the {MAX_IMAGE_PIXELS:,} pixels a dataset image may have (a decompression bomb?); "
                f"resize it to the model's resolution")

class DatasetError(Exception):
    """A dataset file is missing or malformed; the message names the file, the problem and the fix."""

    def __init__(self, path: str | os.PathLike, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class FileStore:
    """Read-only access to the files of a folder or an uncompressed zip by relative name."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not self.path.exists():
            raise DatasetError(self.path, "does not exist; give a dataset folder or a .zip")
        self.is_zip = self.path.is_file()
        self._zip: zipfile.ZipFile | None = None
        self._zip_pid: int | None = None
        if self.is_zip:
            try:
                names = self._archive().namelist()
            except zipfile.BadZipFile as error:
                raise DatasetError(self.path, f"is not a readable zip ({error}); re-create it") from error
            self.names = sorted(name for name in names if not name.endswith("/"))
        else:
            self.names = sorted(
                entry.relative_to(self.path).as_posix() for entry in self.path.rglob("*") if entry.is_file()
            )

    def _archive(self) -> zipfile.ZipFile:
        # One handle per process: a zip handle must not be shared across DataLoader worker forks.
        if self._zip is None or self._zip_pid != os.getpid():
            self._zip = zipfile.ZipFile(self.path)
            self._zip_pid = os.getpid()
        return self._zip

    def image_names(self) -> list[str]:
        """Relative names of every image file, sorted."""
        return [name for name in self.names if name.lower().endswith(IMAGE_SUFFIXES)]

    def exists(self, name: str) -> bool:
        return name in set(self.names) if self.is_zip else (self.path / name).is_file()

    def describe(self, name: str) -> str:
        """A readable location of one member, for error messages."""
        return f"{self.path}:{name}" if self.is_zip else str(self.path / name)

    def read_bytes(self, name: str) -> bytes:
        try:
            if self.is_zip:
                return self._archive().read(name)
            return (self.path / name).read_bytes()
        except (KeyError, FileNotFoundError) as error:
            raise DatasetError(self.describe(name), "is missing") from error

    def read_image(self, name: str, channels: int) -> np.ndarray:
        """Decode one image as uint8 `[H, W, channels]` (channels 3 = RGB, 1 = grey)."""
        data = self.read_bytes(name)
        try:
            with Image.open(io.BytesIO(data)) as image:
                self._check_pixels(name, image)
                image.load()
                converted = image.convert("RGB" if channels == 3 else "L")
        except Image.DecompressionBombError as error:  # PIL's own header check, past 179 M pixels
            raise DatasetError(self.describe(name), f"{BOMB_PROBLEM} ({error})") from None
        except (OSError, SyntaxError, ValueError) as error:
            raise DatasetError(self.describe(name), f"is not a readable image ({error}); re-export it") from error
        array = np.array(converted, dtype=np.uint8)  # a writable copy: torch warns about read-only arrays
        return array if channels == 3 else array[:, :, None]

    def image_size(self, name: str, decode: bool = True) -> tuple[int, int]:
        """(width, height) of an image; `decode` reads all pixels so that truncated or corrupt files are caught."""
        data = self.read_bytes(name)
        try:
            with Image.open(io.BytesIO(data)) as image:
                self._check_pixels(name, image)
                if decode:
                    image.load()
                return image.size
        except Image.DecompressionBombError as error:  # PIL's own header check, past 179 M pixels
            raise DatasetError(self.describe(name), f"{BOMB_PROBLEM} ({error})") from None
        except (OSError, SyntaxError, ValueError) as error:
            raise DatasetError(self.describe(name), f"is not a readable image ({error}); re-export it") from error

    def _check_pixels(self, name: str, image: Image.Image) -> None:
        """Refuse an image whose header claims more pixels than a dataset image can have, before decoding it
        (a decompression bomb would otherwise take the machine's memory)."""
        width, height = image.size
        if width * height > MAX_IMAGE_PIXELS:
            raise DatasetError(self.describe(name), f"is {width}x{height} pixels: {BOMB_PROBLEM}")

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()
            self._zip = None

    def __getstate__(self) -> dict:
        # Zip handles do not pickle; each process opens its own.
        state = dict(self.__dict__)
        state["_zip"] = None
        state["_zip_pid"] = None
        return state


def encode_png(pixels: np.ndarray, compress_level: int = 1) -> bytes:
    """PNG bytes of uint8 `[H, W, 3]` or `[H, W, 1]` pixels (low compression: synthesis is write-bound)."""
    array = pixels[:, :, 0] if pixels.ndim == 3 and pixels.shape[2] == 1 else pixels
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array)).save(buffer, format="PNG", compress_level=compress_level)
    return buffer.getvalue()


def atomic_write_bytes(path: str | os.PathLike, data: bytes, durable: bool = True) -> Path:
    """Write `data` to `path` through a temporary file in the same folder and a rename.

    `durable` also fsyncs before the rename (skipped for the thousands of images of a dataset).
    """
    return write_atomic(path, data, durable=durable)


class FileSink:
    """Write the files of a dataset into a folder or, with `as_zip`, into an uncompressed zip.

    The zip is assembled under a temporary name and renamed into place by `close()`.
    """

    def __init__(self, path: str | os.PathLike, as_zip: bool):
        self.path = Path(path)
        self.as_zip = as_zip
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if as_zip:
            self._temporary = temporary_beside(self.path)
            self._zip = zipfile.ZipFile(self._temporary, "w", compression=zipfile.ZIP_STORED)
        else:
            self.path.mkdir(parents=True, exist_ok=True)

    def write(self, name: str, data: bytes) -> None:
        if self.as_zip:
            self._zip.writestr(name, data)
        else:
            atomic_write_bytes(self.path / name, data, durable=name.endswith(".json"))

    def close(self) -> Path:
        if self.as_zip:
            self._zip.close()
            os.replace(self._temporary, self.path)
        return self.path

    def abort(self) -> None:
        if self.as_zip:
            self._zip.close()
            self._temporary.unlink(missing_ok=True)
