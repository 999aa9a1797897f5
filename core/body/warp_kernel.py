"""The fast warp's per-point decision as one compiled loop (numba), for warps on a CPU (with gradients the loop
only chooses and FastWarp applies the chosen maps as torch operations).

`FastWarp._carry` spells the decision as some thirty whole-array torch operations; on a CPU each pass over the
points costs more than the arithmetic, and the three field reads (grid_sample 3-D) dominate. Here one pass per
point does the bound test, the three group reads, the blended-face candidates and the move, with the same rules
and constants (tests compare the two: equal positions except where two distances tie to float rounding).

Choices written per point: STAY (-1, the point is left in place), 0-2 (the static, neck or head group's image)
or 3 + f (blended face f's triangle map).
"""
from __future__ import annotations

import math

import numpy as np

from core.compiled import available, built_once, compile_loop, run_split

STAY = -1
BLENDED_CHOICE = 3
__all__ = ["available", "carry", "prepare", "STAY", "BLENDED_CHOICE"]


def _cell(x, y, z, scale, top):
    """grid_sample(align_corners=True, border) cell of canonical (x, y, z): lower node (i, j, k) and fractions,
    float32 like torch's own."""
    one, half, zero = np.float32(1.0), np.float32(0.5), np.float32(0.0)
    u = min(max((x * scale + one) * half * top, zero), top)
    v = min(max((y * scale + one) * half * top, zero), top)
    w = min(max((z * scale + one) * half * top, zero), top)
    last = int(top) - 1
    i, j, k = min(int(u), last), min(int(v), last), min(int(w), last)  # int() floors: u, v, w >= 0
    return i, j, k, u - np.float32(i), v - np.float32(j), w - np.float32(k)


def _trilinear(field, x, y, z, scale, top):
    """Trilinear read of both channels of field [D, H, W, 2] (z-y-x, channels last) at canonical (x, y, z)."""
    i, j, k, fu, fv, fw = _cell(x, y, z, scale, top)
    gu, gv, gw = np.float32(1.0) - fu, np.float32(1.0) - fv, np.float32(1.0) - fw
    a, b, c, d = field[k, j, i], field[k, j, i + 1], field[k, j + 1, i], field[k, j + 1, i + 1]
    e, f, g, h = field[k + 1, j, i], field[k + 1, j, i + 1], field[k + 1, j + 1, i], field[k + 1, j + 1, i + 1]
    first = (((a[0] * gu + b[0] * fu) * gv + (c[0] * gu + d[0] * fu) * fv) * gw
             + ((e[0] * gu + f[0] * fu) * gv + (g[0] * gu + h[0] * fu) * fv) * fw)
    second = (((a[1] * gu + b[1] * fu) * gv + (c[1] * gu + d[1] * fu) * fv) * gw
              + ((e[1] * gu + f[1] * fu) * gv + (g[1] * gu + h[1] * fu) * fv) * fw)
    return first, second


def _trilinear_one(field, x, y, z, scale, top):
    """Trilinear read of field [D, H, W, 1] at canonical (x, y, z)."""
    i, j, k, fu, fv, fw = _cell(x, y, z, scale, top)
    gu, gv, gw = np.float32(1.0) - fu, np.float32(1.0) - fv, np.float32(1.0) - fw
    return (((field[k, j, i, 0] * gu + field[k, j, i + 1, 0] * fu) * gv
             + (field[k, j + 1, i, 0] * gu + field[k, j + 1, i + 1, 0] * fu) * fv) * gw
            + ((field[k + 1, j, i, 0] * gu + field[k + 1, j, i + 1, 0] * fu) * gv
               + (field[k + 1, j + 1, i, 0] * gu + field[k + 1, j + 1, i + 1, 0] * fu) * fv) * fw)


def _squared_distance(px, py, pz, face):
    """core.body.triangles.squared_distance for one point and one packed face [16]."""
    eps = 1e-20
    wx, wy, wz = px - face[0], py - face[1], pz - face[2]
    d1 = wx * face[3] + wy * face[4] + wz * face[5]
    d2 = wx * face[6] + wy * face[7] + wz * face[8]
    height = wx * face[9] + wy * face[10] + wz * face[11]
    ww = wx * wx + wy * wy + wz * wz
    aa, bb, cc, det = face[12], face[13], face[14], face[15]
    s = (cc * d1 - bb * d2) / max(det, eps)
    t = (aa * d2 - bb * d1) / max(det, eps)
    if s >= 0 and t >= 0 and s + t <= 1 and det > eps:
        return max(height * height, 0.0)
    u0 = min(max(d1 / max(aa, eps), 0.0), 1.0)
    edge0 = ww - 2 * u0 * d1 + u0 * u0 * aa
    u1 = min(max(d2 / max(cc, eps), 0.0), 1.0)
    edge1 = ww - 2 * u1 * d2 + u1 * u1 * cc
    ff = aa - 2 * bb + cc
    uf = d2 - d1 - bb + aa
    u2 = min(max(uf / max(ff, eps), 0.0), 1.0)
    edge2 = (ww - 2 * d1 + aa) - 2 * u2 * uf + u2 * u2 * ff
    return max(min(min(edge0, edge1), edge2), 0.0)


def _carry_range(start, end, points, rotation, translation, fields, bounds, extent, thickness, bound_margin,
                 preference, candidates, resolution, packed, blend_rotation, blend_translation, out, choice):
    """Decide and move points[start:end] (see FastWarp._carry for the rules); writes out and choice."""
    scale = np.float32(1.0) / extent
    top = np.float32(resolution - 1)
    bound_top = np.float32(bounds.shape[0] - 1)
    spacing = np.float32(2.0) * extent / top
    images = np.empty((3, 3), dtype=np.float32)
    for n in range(start, end):
        x, y, z = points[n, 0], points[n, 1], points[n, 2]
        out[n, 0], out[n, 1], out[n, 2] = x, y, z
        choice[n] = STAY
        # Lower bound on the distance to any posed face: far points cannot move (FastWarp._may_move).
        if _trilinear_one(bounds, x, y, z, scale, bound_top) - bound_margin >= thickness:
            continue
        images[0, 0], images[0, 1], images[0, 2] = x, y, z
        for g in range(2):
            for r in range(3):
                images[g + 1, r] = (rotation[g, r, 0] * x + rotation[g, r, 1] * y + rotation[g, r, 2] * z
                                    + translation[g, r])
        rigid = np.inf
        group = 0
        guess = np.inf
        for g in range(3):
            own, blended = _trilinear(fields[g], images[g, 0], images[g, 1], images[g, 2], scale, top)
            if own < rigid:
                rigid, group = own, g
            guess = min(guess, blended)
        blend = np.inf
        face = -1
        if guess + preference < min(rigid, thickness) and packed.shape[0] > 0:
            best = np.inf
            for g in range(3):  # the nearest node's candidates of each group image, in that order
                ix = min(max(int(np.rint((images[g, 0] + extent) / spacing)), 0), resolution - 1)
                iy = min(max(int(np.rint((images[g, 1] + extent) / spacing)), 0), resolution - 1)
                iz = min(max(int(np.rint((images[g, 2] + extent) / spacing)), 0), resolution - 1)
                node = (iz * resolution + iy) * resolution + ix
                for c in range(candidates.shape[1]):
                    f = candidates[node, c]
                    squared = _squared_distance(x, y, z, packed[f])
                    if squared < best:
                        best, face = squared, f
            blend = math.sqrt(best)
        if min(rigid, blend) >= thickness:
            continue
        if blend < rigid:
            for r in range(3):
                out[n, r] = (blend_rotation[face, r, 0] * x + blend_rotation[face, r, 1] * y
                             + blend_rotation[face, r, 2] * z + blend_translation[face, r])
            choice[n] = BLENDED_CHOICE + face
        else:
            out[n, 0], out[n, 1], out[n, 2] = images[group, 0], images[group, 1], images[group, 2]
            choice[n] = group


def prepare() -> None:
    """Compile the loop now, or load it from numba's on-disk cache (about 0.5 s against 4 s; numba loads a cached
    loop at its first call, so this makes one on a dummy point), e.g. on the thread that warms a viewer's body
    fields, so the first pose does not wait; nothing without numba."""
    if not available():
        return
    f32 = np.float32
    eye = np.eye(3, dtype=f32)
    carry(np.zeros((1, 3), f32), np.stack([eye, eye]), np.zeros((2, 3), f32), np.zeros((3, 2, 2, 2, 2), f32),
          np.zeros((2, 2, 2, 1), f32), 1.0, 0.25, 0.0, 0.01, np.zeros((8, 1), np.int64), np.zeros((1, 16), f32),
          eye[None].copy(), np.zeros((1, 3), f32), threads=1)


def _build():
    """The compiled loop (kept in numba's on-disk cache for later processes); the helpers are compiled in place
    (the loop calls them by their module names) and inlined."""
    for name in ("_cell", "_trilinear", "_trilinear_one", "_squared_distance"):
        globals()[name] = compile_loop(globals()[name], inline=True)
    return compile_loop(_carry_range)


_kernel = built_once(_build)


def carry(points: np.ndarray, rotation: np.ndarray, translation: np.ndarray, fields: np.ndarray,
          bounds: np.ndarray, extent: float, thickness: float, bound_margin: float, preference: float,
          candidates: np.ndarray, packed: np.ndarray, blend_rotation: np.ndarray, blend_translation: np.ndarray,
          threads: int) -> tuple[np.ndarray, np.ndarray]:
    """Canonical positions [M, 3] and choices [M] of points [M, 3] (float32, C order), split over threads.

    fields [3, G, G, G, 2] and bounds [B, B, B, 1]: CanonicalFields' grids with their channels last."""
    out = np.empty_like(points)
    choice = np.empty(len(points), dtype=np.int32)
    args = (points, rotation, translation, fields, bounds, np.float32(extent), np.float32(thickness),
            np.float32(bound_margin), np.float32(preference), candidates, fields.shape[1], packed, blend_rotation,
            blend_translation, out, choice)
    run_split(_kernel(), len(points), args, threads)  # the loop releases the GIL: the parts use separate cores
    return out, choice
