"""Safe reading of the authors' released 3DPortraitGAN network pickles (reference-spec.md §8).

The pickles are read by a restricted unpickler that never imports the reference code nor executes the module
source embedded in them; see docs/released-checkpoints.md.
"""
from core.legacy.convert import (
    ImportReport,
    ReleasedCheckpoint,
    build_released_generator,
    config_from_released,
    copy_released_state,
    import_released_checkpoint,
    load_released_generator,
    read_released_checkpoint,
    released_body_model,
)

__all__ = [
    "ImportReport",
    "ReleasedCheckpoint",
    "build_released_generator",
    "config_from_released",
    "copy_released_state",
    "import_released_checkpoint",
    "load_released_generator",
    "read_released_checkpoint",
    "released_body_model",
]
