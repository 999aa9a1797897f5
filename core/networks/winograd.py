"""Wide 3x3 convolutions on a CPU as Winograd F(4x4, 3x3): 4x fewer multiplications than the direct convolution.

Each 4x4 block of output pixels ("tile") is computed from its 6x6 input patch: the patch is transformed
(V = B^T d B), multiplied with the transformed 3x3 kernel (U = G g G^T) element by element and summed over the
input channels, which for all tiles at once is 36 matrix products [tiles, C] @ [C, O], and the product is
transformed back (Y = A^T M A) (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks", 2016). The
transforms are compiled loops (numba) over channels-last tiles, the 36 products one batched matrix product; tiles
go in chunks of a few tile rows so that the transformed chunk stays in the caches, and the chunks run side by side,
one core each (`map_on_cores`: 0.73-0.83x against each step split over the cores in turn at 256x256 and 512x512).

Used for a batch of one without gradients (renders) on float32 inputs of at least 128 channels and 2M values
(channels x pixels): `paper-512`'s tri-grid and super-resolution layers from 64x64 (512 channels) to 512x512
(128 channels). Measured alone, in the render worker's memory setting (renderer/worker_memory.py), against the
direct convolution: 256 channels at 256x256 0.46x (279 against 606 ms), 512 at 64x64 0.51x, 128 at 512x512
0.74x, 128 at 256x256 0.73x; whole `paper-512` frames of a new latent 0.87x (README "CPU settings measured for
speed"). `small` and `tiny` have no layer that large (their widest, 128 channels at 64x64, gained less: 0.80x at
128x128 and 2M values is where the transforms' passes over memory stop costing more than they save at 2 cores).
Values differ from the direct convolution by float rounding (~1e-5 of the outputs' size; tests).
"""
from __future__ import annotations

import threading

import numpy as np
import torch

from core.compiled import available, built_once, compile_loop, map_on_cores
from core.networks.filters import records_gradients

MIN_CHANNELS = 128
MIN_INPUT_SIZE = 1 << 21  # channels x pixels
TILE_ROWS_PER_CHUNK = 4  # 36 x (4 x 64 tiles) x 256 channels = 9 MB transformed per chunk at 256x256
_TWO, _FOUR, _FIVE, _EIGHT = np.float32(2.0), np.float32(4.0), np.float32(5.0), np.float32(8.0)
# The kernel transform G (6x3) of F(4x4, 3x3); G g G^T for every kernel at once is kron(G, G) @ vec(g).
_G = torch.tensor([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
                   [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]], dtype=torch.float64)
_KERNEL_TRANSFORM = torch.kron(_G, _G).float()  # [36, 9]


def applies(x: torch.Tensor, weight: torch.Tensor, stride: int, padding: int, groups: int) -> bool:
    """True for a convolution that this module computes: see the module's note."""
    return (x.device.type == "cpu" and x.dtype == torch.float32 and weight.dtype == torch.float32
            and x.ndim == 4 and x.shape[0] == 1 and groups == 1 and stride == 1 and padding == 1
            and tuple(weight.shape[2:]) == (3, 3) and x.shape[1] >= MIN_CHANNELS
            and x.shape[1] * x.shape[2] * x.shape[3] >= MIN_INPUT_SIZE and not records_gradients(x, weight)
            and available())


def conv3x3(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """F.conv2d(x, weight, padding=1) for x [1, C, H, W] and weight [O, C, 3, 3], channels-last out."""
    _, channels, height, width = x.shape
    out_channels = weight.shape[0]
    # U [36, C, O] as a transposed view of [36, O, C]: the matrix product reads it as it is.
    transformed = (_KERNEL_TRANSFORM @ weight.reshape(out_channels * channels, 9).t()).view(36, out_channels, channels)
    transformed = transformed.transpose(1, 2)
    pixels = x.contiguous(memory_format=torch.channels_last)[0].permute(1, 2, 0).numpy()  # [H, W, C], a view
    out = torch.empty(1, out_channels, height, width, memory_format=torch.channels_last)
    out_pixels = out[0].permute(1, 2, 0).numpy()
    tile_rows, tiles_per_row = (height + 3) // 4, (width + 3) // 4
    chunk = TILE_ROWS_PER_CHUNK * tiles_per_row
    input_loop, output_loop = _kernels()
    buffers = threading.local()  # each thread's transformed chunk and products, made once per call

    def convolve_chunk(first_row: int) -> None:
        if not hasattr(buffers, "patches"):
            buffers.patches, buffers.products = torch.empty(36, chunk, channels), torch.empty(36, chunk, out_channels)
        first = first_row * tiles_per_row
        count = min(tile_rows - first_row, TILE_ROWS_PER_CHUNK) * tiles_per_row
        input_loop(first, first + count, pixels, buffers.patches.numpy(), tiles_per_row, first)
        torch.bmm(buffers.patches[:, :count], transformed, out=buffers.products[:, :count])
        output_loop(first, first + count, buffers.products.numpy(), out_pixels, tiles_per_row, first)

    # Chunks side by side, one core each: one core's transforms (memory) overlap the other's products (arithmetic).
    map_on_cores(convolve_chunk, range(0, tile_rows, TILE_ROWS_PER_CHUNK), torch.get_num_threads())
    return out


def _input_tiles(start, end, pixels, patches, tiles_per_row, first):
    """patches[:, t - first] = B^T d B of tile t's 6x6 input patch d (zero outside the map), t in [start, end)."""
    height, width, channels = pixels.shape
    patch = np.zeros((6, 6, channels), np.float32)
    rows = np.empty((36, channels), np.float32)
    for tile in range(start, end):
        tile_row = tile // tiles_per_row
        top, left, slot = 4 * tile_row - 1, 4 * (tile - tile_row * tiles_per_row) - 1, tile - first
        for i in range(6):
            for j in range(6):
                inside = 0 <= top + i < height and 0 <= left + j < width
                for c in range(channels):
                    patch[i, j, c] = pixels[top + i, left + j, c] if inside else np.float32(0.0)
        for j in range(6):  # B^T d, column by column
            for c in range(channels):
                d0, d1, d2 = patch[0, j, c], patch[1, j, c], patch[2, j, c]
                d3, d4, d5 = patch[3, j, c], patch[4, j, c], patch[5, j, c]
                rows[j, c] = _FOUR * d0 - _FIVE * d2 + d4
                rows[6 + j, c] = -(_FOUR * d1) - _FOUR * d2 + d3 + d4
                rows[12 + j, c] = _FOUR * d1 - _FOUR * d2 - d3 + d4
                rows[18 + j, c] = -(_TWO * d1) - d2 + _TWO * d3 + d4
                rows[24 + j, c] = _TWO * d1 - d2 - _TWO * d3 + d4
                rows[30 + j, c] = _FOUR * d1 - _FIVE * d3 + d5
        for i in range(6):  # (B^T d) B, row by row
            for c in range(channels):
                d0, d1, d2 = rows[6 * i, c], rows[6 * i + 1, c], rows[6 * i + 2, c]
                d3, d4, d5 = rows[6 * i + 3, c], rows[6 * i + 4, c], rows[6 * i + 5, c]
                patches[6 * i, slot, c] = _FOUR * d0 - _FIVE * d2 + d4
                patches[6 * i + 1, slot, c] = -(_FOUR * d1) - _FOUR * d2 + d3 + d4
                patches[6 * i + 2, slot, c] = _FOUR * d1 - _FOUR * d2 - d3 + d4
                patches[6 * i + 3, slot, c] = -(_TWO * d1) - d2 + _TWO * d3 + d4
                patches[6 * i + 4, slot, c] = _TWO * d1 - d2 - _TWO * d3 + d4
                patches[6 * i + 5, slot, c] = _FOUR * d1 - _FIVE * d3 + d5


def _output_tiles(start, end, products, out, tiles_per_row, first):
    """out's 4x4 block of tile t = A^T m A of its products m (the part inside the map), t in [start, end)."""
    height, width, channels = out.shape
    columns = np.empty((24, channels), np.float32)
    block = np.empty((4, channels), np.float32)
    for tile in range(start, end):
        tile_row = tile // tiles_per_row
        top, left, slot = 4 * tile_row, 4 * (tile - tile_row * tiles_per_row), tile - first
        for j in range(6):  # A^T m, column by column
            for c in range(channels):
                m0, m1, m2 = products[j, slot, c], products[6 + j, slot, c], products[12 + j, slot, c]
                m3, m4, m5 = products[18 + j, slot, c], products[24 + j, slot, c], products[30 + j, slot, c]
                columns[j, c] = m0 + m1 + m2 + m3 + m4
                columns[6 + j, c] = m1 - m2 + _TWO * m3 - _TWO * m4
                columns[12 + j, c] = m1 + m2 + _FOUR * m3 + _FOUR * m4
                columns[18 + j, c] = m1 - m2 + _EIGHT * m3 - _EIGHT * m4 + m5
        for i in range(min(4, height - top)):  # (A^T m) A, row by row
            for c in range(channels):
                m0, m1, m2 = columns[6 * i, c], columns[6 * i + 1, c], columns[6 * i + 2, c]
                m3, m4, m5 = columns[6 * i + 3, c], columns[6 * i + 4, c], columns[6 * i + 5, c]
                block[0, c] = m0 + m1 + m2 + m3 + m4
                block[1, c] = m1 - m2 + _TWO * m3 - _TWO * m4
                block[2, c] = m1 + m2 + _FOUR * m3 + _FOUR * m4
                block[3, c] = m1 - m2 + _EIGHT * m3 - _EIGHT * m4 + m5
            for j in range(min(4, width - left)):
                for c in range(channels):
                    out[top + i, left + j, c] = block[j, c]


# The two compiled transforms, built on first use (and kept in numba's on-disk cache for later processes).
_kernels = built_once(lambda: (compile_loop(_input_tiles), compile_loop(_output_tiles)))


def prepare() -> None:
    """Compile the transforms now (~4 s), or load them from numba's cache (~1 s, at their first call: this runs
    both on one tile), e.g. on a viewer's warm-up thread before the first frame of a model with such layers."""
    if not available():
        return
    with torch.inference_mode():
        conv3x3(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 3, 3))


def used_by(config) -> bool:
    """True when a generator of `config` (core.config.GeneratorConfig) has such layers: the widest maps are the
    tri-grid backbone's last block and the last super-resolution block (enough to decide whether to load the
    transforms ahead of the first frame)."""
    backbone = min(config.channel_base // config.backbone_resolution, config.channel_max)
    return any(channels >= MIN_CHANNELS and channels * resolution ** 2 >= MIN_INPUT_SIZE
               for channels, resolution in ((backbone, config.backbone_resolution),
                                            (config.sr_channels[-1], config.img_resolution)))
