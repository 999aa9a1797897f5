"""Photo inversion: fit a photo's identity, camera and body pose into a generator (docs/invert.md).

`python -m core.invert` is the command line; `core.invert.session` opens and runs one inversion;
`core.invert.latent_file` is the torch-free latent file every other tool reads.
"""
