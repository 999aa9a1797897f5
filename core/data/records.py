"""The per-dataset record of a synthetic dataset (synth.json) and rebuilding any person's ground-truth mesh.

synth.json holds the synthesis settings, the appearance and shape of every identity and, per image, its
identity and lighting, so `identity_mesh(root, identity)` rebuilds the canonical mesh an image was made from.
"""
from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from core.body import load_body_model
from core.data.appearance import Appearance, Lighting
from core.data.scene import Dresser
from core.data.storage import DatasetError, atomic_write_bytes

RECORD_FILE = "synth.json"
RECORD_FORMAT = "portrait-synth/1"


@dataclass(frozen=True)
class SynthRecord:
    """What synth.json says about a synthetic dataset."""

    settings: dict  # SynthSettings as a dict (resolution, seed, views_per_identity, ...)
    identities: dict[int, Appearance]  # identity index -> appearance and shape
    samples: dict[str, tuple[int, Lighting]]  # image name -> (identity, lighting)


def write_record(root: Path, settings, samples: list, appearance_of: Callable[[int], Appearance]) -> Path:
    """Write synth.json for `samples`: [(name, SceneSpec)], with the appearance of every identity they show
    (`appearance_of(identity)`: the synthesiser's draw, passed in so that this module does not import it)."""
    identities = sorted({spec.identity for _, spec in samples})
    document = {
        "format": RECORD_FORMAT,
        "settings": dataclasses.asdict(settings),
        "identities": {str(identity): appearance_of(identity).to_dict() for identity in identities},
        "samples": {name: {"identity": spec.identity, "lighting": spec.lighting.to_dict()} for name, spec in samples},
    }
    return atomic_write_bytes(Path(root) / RECORD_FILE, json.dumps(document, indent=1).encode())


_RECORDS: dict = {}  # (path, modification time, size) -> SynthRecord: readers ask once per identity


def read_record(root: str | os.PathLike) -> SynthRecord:
    """Read a synth output folder's synth.json (errors name the file); cached until the file changes."""
    path = Path(root).resolve() / RECORD_FILE
    if not path.is_file():
        raise DatasetError(path, "is missing; only datasets made by `python -m core.data synth` have one")
    stat = path.stat()
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    if key not in _RECORDS:
        _RECORDS.clear()
        _RECORDS[key] = _parse_record(path)
    return _RECORDS[key]


def _parse_record(path: Path) -> SynthRecord:
    try:
        document = json.loads(path.read_text())
        if document.get("format") != RECORD_FORMAT:
            raise DatasetError(path, f"has format {document.get('format')!r}, expected {RECORD_FORMAT!r}")
        identities = {int(key): Appearance.from_dict(value) for key, value in document["identities"].items()}
        samples = {
            name: (int(value["identity"]), Lighting.from_dict(value["lighting"]))
            for name, value in document["samples"].items()
        }
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise DatasetError(path, f"is not a valid synth record ({error}); re-run the synthesis") from error
    return SynthRecord(settings=document["settings"], identities=identities, samples=samples)


_DRESSERS: dict = {}  # body-model file -> Dresser (its head anchors take about a second to compute)


def _dresser(body_path: str | None, body):
    if body is not None:
        return Dresser(body)
    if body_path not in _DRESSERS:
        _DRESSERS[body_path] = Dresser(load_body_model(body_path))
    return _DRESSERS[body_path]


def identity_mesh(root: str | os.PathLike, identity: int, body=None):
    """The canonical (rest-pose) ground-truth mesh of one identity: a `PosedMesh` (vertices, faces, colours).

    `body` is a loaded BodyModel; None uses the one the dataset was made with (loaded once per process).
    """
    record = read_record(root)
    if identity not in record.identities:
        raise KeyError(f"identity {identity} is not in {Path(root) / RECORD_FILE} (it has {len(record.identities)})")
    dresser = _dresser(record.settings.get("body_path"), body)
    return dresser.dress(record.identities[identity]).canonical_mesh()
