"""Network building blocks of the generator (and the discriminator): pure PyTorch, no custom ops.

filters: FIR up/downsampling (upfirdn2d). layers: equalised-lr FC and conv layers, bias + activation,
modulated convolution. synthesis: StyleGAN2 synthesis layers, blocks and network. mapping: the mapping
network and the tri-grid backbone. superresolution: the two-block super-resolution. heads: OSG decoder and
pose branch.
"""
