"""Sample and render the synthetic 360-degree portrait dataset (`python -m core.data synth`).

Each image index draws its own camera, pose and lighting from a generator seeded by (seed, index), and
each identity its appearance from (seed, identity), so the output is the same for any number of workers.
Cameras follow the reference: orbit of radius 2.7 around the look-at point (0, 0.0649, 0) with a small
jitter, focal 6.5104, yaw uniform over 360 degrees. Rendering runs in `spawn`ed worker processes that each
own an offscreen GL context; the parent writes images, masks, dataset.json and the synth.json record.
"""
from __future__ import annotations

import multiprocessing
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from tqdm import tqdm

from core.body import load_body_model, pose_from_degrees
from core.camera import DEFAULT_FOCAL, DEFAULT_RADIUS, LOOKAT_PIVOT, orbit_camera
from core.data.appearance import Appearance, sample_appearance, sample_lighting
from core.data.gl_render import OffscreenMeshRenderer
from core.data.scene import Dresser, SceneSpec, composite, pose_identities
from core.data.labels import LABELS_FILE, labels_document, sample_name
from core.data.records import RECORD_FILE, write_record
from core.data.storage import DatasetError, FileSink, encode_png

CHUNK = 8  # images per task sent to a worker (amortises the body-model call and the pipe)
LOOKAT_JITTER = 0.01  # std of the look-at point's jitter, world units per axis
PITCH_STD_DEG, PITCH_LIMIT_DEG = 9.0, 28.0  # camera elevation: normal, clipped
NECK_STD_DEG = (9.0, 14.0, 6.0)  # nod, turn, tilt of the neck
HEAD_STD_DEG = (7.0, 10.0, 5.0)  # nod, turn, tilt of the head on the neck
POSE_LIMIT_STD = 2.0  # pose angles are clipped at this many standard deviations
COLLAR_WIDTH = 0.012  # height of the collar trim above the neckline, metres


@dataclass(frozen=True)
class SynthSettings:
    """What to synthesise; shared by the command line, the workers and the benchmark."""

    resolution: int = 128  # image side in pixels
    seed: int = 0  # base seed of every random draw
    views_per_identity: int = 1  # consecutive images that show the same person
    supersample: int = 2  # sub-pixels per side for anti-aliasing (mask edges become fractional)
    vary_shape: bool = True  # sample body-shape betas per person (False: the mean body)
    feature_scale: float = 1.0  # size of eyes, brows, nose and mouth (1.5 keeps them legible at 64 px)
    pose_scale: float = 1.0  # multiplies every neck/head angle (0: all at rest, for training without the warp)
    body_path: str | None = None  # SMPL file (.pkl/.npz) or None for the shipped stand-in

    def identity_of(self, index: int) -> int:
        return index // self.views_per_identity


def sample_appearance_of(settings: SynthSettings, identity: int) -> Appearance:
    """The appearance of person `identity` (depends only on the seed and the identity)."""
    rng = np.random.default_rng([settings.seed, identity, 1])
    return sample_appearance(rng, vary_shape=settings.vary_shape, feature_scale=settings.feature_scale)


def sample_scene(settings: SynthSettings, index: int) -> SceneSpec:
    """Camera, pose and lighting of image `index` (depends only on the seed and the index)."""
    rng = np.random.default_rng([settings.seed, index, 0])
    yaw = float(rng.uniform(0.0, 360.0))
    pitch = float(np.clip(rng.normal(0.0, PITCH_STD_DEG), -PITCH_LIMIT_DEG, PITCH_LIMIT_DEG))
    lookat = np.asarray(LOOKAT_PIVOT) + rng.normal(0.0, LOOKAT_JITTER, size=3)
    camera = orbit_camera(yaw, pitch, radius=DEFAULT_RADIUS, lookat=lookat.tolist(), focal=DEFAULT_FOCAL)[0]
    neck_limit, head_limit = POSE_LIMIT_STD * np.array(NECK_STD_DEG), POSE_LIMIT_STD * np.array(HEAD_STD_DEG)
    neck = np.clip(rng.normal(0.0, NECK_STD_DEG), -neck_limit, neck_limit)
    head = np.clip(rng.normal(0.0, HEAD_STD_DEG), -head_limit, head_limit)
    neck, head = neck * settings.pose_scale, head * settings.pose_scale  # scaled after drawing: same cameras
    pose = pose_from_degrees(neck.tolist(), head.tolist())
    return SceneSpec(
        identity=settings.identity_of(index),
        camera=camera.double().numpy(),
        pose=pose.double().numpy().reshape(6),
        lighting=sample_lighting(rng, yaw),
    )


@dataclass(frozen=True)
class RenderedSample:
    """One rendered image, ready to write."""

    index: int  # image index
    image: np.ndarray  # uint8 [R, R, 3]
    mask: np.ndarray  # uint8 [R, R, 1], 255 = person
    spec: SceneSpec  # what was rendered


class SceneRenderer:
    """Renders scene specs in this process: body model, dresser, GL context and a small cache of people."""

    def __init__(self, settings: SynthSettings):
        self.settings = settings
        self.body = load_body_model(settings.body_path)
        self.dresser = Dresser(self.body)
        self.gl = OffscreenMeshRenderer(settings.resolution, settings.supersample)
        self._people: dict[int, object] = {}

    def people(self, identities: list[int]) -> list:
        """The dressed identities (cached; the dataset visits each person's views consecutively)."""
        missing = sorted(set(identities) - set(self._people))
        if missing:
            if len(self._people) > 64:
                self._people.clear()
            looks = [sample_appearance_of(self.settings, identity) for identity in missing]
            self._people.update(zip(missing, self.dresser.dress_many(looks)))
        return [self._people[identity] for identity in identities]

    def render_specs(
        self, specs: list[SceneSpec], looks: list[Appearance] | None = None
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """(image uint8 [R, R, 3], mask uint8 [R, R, 1]) of each spec; `looks` overrides the seeded appearances."""
        if looks is not None:
            people = self.dresser.dress_many(looks)
        else:
            people = self.people([spec.identity for spec in specs])
        meshes = pose_identities(people, np.stack([spec.pose for spec in specs]))
        results = []
        for spec, person, mesh in zip(specs, people, meshes):
            light = spec.lighting
            rgba = self.gl.render(
                mesh.vertices, mesh.faces, mesh.colours, spec.camera, np.asarray(light.direction),
                (light.ambient, light.diffuse, light.specular),
                band=mesh.band, band_colours=person.band_colours, band_width=COLLAR_WIDTH, normals=mesh.normals,
                two_sided_faces=mesh.open_faces,
            )
            results.append(composite(rgba, light))
        return results

    def render_indices(self, indices: list[int]) -> list[RenderedSample]:
        """Sample and render the dataset images `indices` (their people come from the seed)."""
        specs = [sample_scene(self.settings, index) for index in indices]
        rendered = self.render_specs(specs)
        return [RenderedSample(index, image, mask, spec)
                for index, spec, (image, mask) in zip(indices, specs, rendered)]


_WORKER: SceneRenderer | None = None
_WORKER_ERROR: str | None = None


def _worker_start(settings: SynthSettings) -> None:
    """Pool initializer: one thread per worker (the workers are the parallelism) and a GL context.

    A failure is kept and reported by the first task: a raising initializer would make the pool
    restart the worker forever instead of telling anyone.
    """
    global _WORKER, _WORKER_ERROR
    os.environ["PYOPENGL_PLATFORM"] = os.environ.get("PORTRAIT_GL_PLATFORM", "egl")
    os.environ.setdefault("LP_NUM_THREADS", "1")
    torch.set_num_threads(1)
    try:
        _WORKER = SceneRenderer(settings)
    except Exception as error:  # reported to the parent with the first task
        _WORKER_ERROR = f"{type(error).__name__}: {error}"


def _worker_render(task: tuple) -> list[tuple]:
    """Render and PNG-encode one chunk of indices: [(index, image png, mask png, spec)];
    for explicit ("specs", (specs, looks)) tasks: [(position, image array, mask array, spec)]."""
    if _WORKER is None:
        raise RuntimeError(f"the rendering worker could not start: {_WORKER_ERROR}")
    kind, payload = task
    if kind == "indices":
        samples = _WORKER.render_indices(payload)
        return [(s.index, encode_png(s.image), encode_png(s.mask), s.spec) for s in samples]
    specs, looks = payload
    return [(i, image, mask, spec)
            for i, (spec, (image, mask)) in enumerate(zip(specs, _WORKER.render_specs(specs, looks)))]


def _worker_cpu_seconds(_: object = None) -> float:
    """CPU seconds this worker process has used (all its threads, GL rasteriser included)."""
    return time.process_time()


class SynthesisPool:
    """`workers` spawned rendering processes (spawn: a fresh interpreter picks the headless GL platform)."""

    def __init__(self, settings: SynthSettings, workers: int = 1):
        self.settings = settings
        self.workers = max(1, workers)
        context = multiprocessing.get_context("spawn")
        self._pool = context.Pool(self.workers, initializer=_worker_start, initargs=(settings,))

    def render(self, indices: list[int]) -> Iterator[tuple[int, bytes, bytes, SceneSpec]]:
        """Encoded (index, image PNG, mask PNG, spec) in index order."""
        chunks = [("indices", indices[start:start + CHUNK]) for start in range(0, len(indices), CHUNK)]
        for chunk in self._pool.imap(_worker_render, chunks):
            yield from chunk

    def render_specs(self, specs: list[SceneSpec], looks: list[Appearance]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Raw (image, mask) arrays of explicit scenes and people (tests, the mirror check)."""
        return [(image, mask) for _, image, mask, _ in self._pool.apply(_worker_render, (("specs", (specs, looks)),))]

    def warm_up(self) -> None:
        """Block until every worker has started (its GL context and body model are ready)."""
        self._pool.map(_worker_render, [("indices", [0])] * self.workers, chunksize=1)

    def cpu_seconds(self) -> float:
        """CPU seconds used so far by the worker (meaningful with one worker: which one answers is not chosen)."""
        return self._pool.apply(_worker_cpu_seconds)

    def close(self) -> None:
        self._pool.terminate()
        self._pool.join()

    def __enter__(self) -> "SynthesisPool":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def output_paths(root: Path, as_zip: bool) -> tuple[Path, Path]:
    """(images, masks) paths inside a synth output folder."""
    return (root / "images.zip", root / "masks.zip") if as_zip else (root / "images", root / "masks")


def synthesize(
    out: str | os.PathLike, count: int, settings: SynthSettings, workers: int = 1, as_zip: bool = False,
    progress: bool = True, pool: SynthesisPool | None = None,
) -> Path:
    """Render `count` images into the folder `out`: images/ and masks/ (or .zip), dataset.json, synth.json.

    `pool` reuses running workers (made with the same settings); by default `workers` are started here.
    """
    root = Path(out).expanduser().resolve()
    taken = [path for path in (*output_paths(root, True), *output_paths(root, False), root / RECORD_FILE)
             if path.exists()]
    if taken and not (root / RECORD_FILE).exists():  # written last: without it the run was interrupted
        raise DatasetError(taken[0], f"is a half-written dataset (an interrupted synth: {RECORD_FILE} is missing); "
                                     f"delete {root} or choose a new --out folder")
    if taken:
        raise DatasetError(taken[0], "already exists; choose a new --out folder or delete the old dataset")
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    if pool is not None and pool.settings != settings:
        raise ValueError("the given pool was started with other settings than these")
    images_path, masks_path = output_paths(root, as_zip)
    images, masks = FileSink(images_path, as_zip), FileSink(masks_path, as_zip)
    labels, samples = [], []
    own_pool = pool is None
    try:
        pool = SynthesisPool(settings, workers) if own_pool else pool
        with tqdm(total=count, unit="img", disable=not progress) as bar:
            for index, image_png, mask_png, spec in pool.render(list(range(count))):
                name = sample_name(index)
                images.write(name, image_png)
                masks.write(name, mask_png)
                labels.append((name, spec.label()))
                samples.append((name, spec))
                bar.update(1)
        images.write(LABELS_FILE, labels_document(labels))
        images.close()
        masks.close()
    except BaseException:
        images.abort()
        masks.abort()
        raise
    finally:
        if own_pool and pool is not None:
            pool.close()
    write_record(root, settings, samples, lambda identity: sample_appearance_of(settings, identity))
    return root
