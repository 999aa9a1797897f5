"""Names and defaults shared by the torch side (core, the renderer's engine) and the GUI side (viz, widgets,
render requests): one definition of each. This module imports nothing, so the GUI process reads it for free.
"""
from __future__ import annotations

# Cameras (docs/INTERFACES.md "Cameras"): the reference's look-at pivot, distance and dataset focal.
LOOKAT_PIVOT = (0.0, 0.0649, 0.0)  # the neck-aligned head joint the reference cameras look at
DEFAULT_RADIUS = 2.7  # the reference's camera distance from the pivot
DEFAULT_FOCAL = 6.5104166  # normalised focal of the dataset: 5000 / (1024 * 0.75)
# How yaw/pitch become a camera (core.camera.camera_from_angles, docs/released-checkpoints.md).
CAMERA_CONVENTIONS = ("project", "reference")

# What a render produces (core.generator.GeneratorOutput); each becomes an RGB uint8 image in the viewer.
OUTPUT_NAMES = ("image", "image_raw", "image_depth", "image_mask", "image_background")
# How sample points are moved by the body pose (core.body.warp.make_warp): fast = per-body canonical fields,
# grid = a grid built per pose, exact = the reference nearest-face search.
WARP_MODES = ("fast", "grid", "exact")
# Per-pixel noise of the synthesis layers, as in StyleGAN2: the stored buffer, a fresh draw, or off.
NOISE_MODES = ("const", "random", "none")
# Importance samplers (core/rendering/sampling.py): "project" spans all coarse intervals; "reference" is the
# authors' EG3D sampler (interior weights over the coarse midpoints), which their released models were trained with.
IMPORTANCE_SAMPLERS = ("project", "reference")
# Left/right decision of the pose branch's mirror trick (core.camera.is_left): "project" tests t_x >= 0,
# "reference" the authors' float32 atan2 test, which differs only at the mirror plane (the exact back view).
MIRROR_TESTS = ("project", "reference")

# Files the video writers make (core.media).
VIDEO_SUFFIXES = (".mp4", ".gif")

# Generator presets (core.config.PRESETS builds them; the Training panel offers them).
PRESET_NAMES = ("tiny", "small", "paper-256", "paper-512")

# The rest body pose: neck xyz, head xyz in degrees (the canonical avatar; the viewer's default condition).
REST_POSE = (0.0,) * 6
