"""Portrait datasets: the reference format, the reader, validation, previews, and the synthetic renderer.

- `reader.PortraitDataset`: images, name-paired masks, camera/pose labels, mirroring, held-out split.
- `check.check_dataset`: validation and a text summary (`python -m core.data check`).
- `preview.contact_sheet`: a grid of samples with yaw and pose (`python -m core.data preview`).
- `synth.synthesize`: the synthetic 360-degree portrait dataset (`python -m core.data synth`), drawn with
  offscreen OpenGL (imported lazily inside `gl_render` only), and `records.identity_mesh` to rebuild the
  ground-truth mesh of any synthetic person.
See docs/data.md.
"""
