"""Exact nearest-triangle search with candidate pruning, in plain torch (CPU and CUDA).

Faces are grouped into clusters of up to `CLUSTER_SIZE` faces that share a `CLUSTER_CELL` voxel (in
Morton order inside it). A cluster K has a bounding sphere (centre m_K, radius rho_K) and an anchor a_K,
a face centroid (a point on the surface), so for a point p the nearest face of K lies between
|p - m_K| - rho_K and |p - a_K|.
A hierarchy of cubic cells (halving from `coarsest_cell` to `finest_cell`) keeps for each cell the
clusters that can hold the nearest face of some point of the cell: with r the cell's half diagonal and
U = min_K |centre - a_K| + r, a cluster stays when |centre - m_K| - rho_K - r <= U and < reach.
A point then tests its finest cell's clusters with the same bounds (r = 0), expands the survivors into
faces, prunes again with each face's sphere (centroid c_f, radius rho_f) and finally measures the exact
distance. The answer equals a brute-force search wherever the nearest distance is below `reach` (ties go
to the lowest face index); elsewhere the distance returned is some value >= reach (+inf, face -1, when
no face is within reach).
"""
from __future__ import annotations

import math

import torch

from core.body.triangles import FaceConstants, pair_squared_distance

CLUSTER_SIZE = 8  # faces per cluster: fewer (cell, cluster) pairs to prune, a little looser bounds
CLUSTER_CELL = 0.04  # side of the voxels clusters stay inside (box units): keeps their spheres small
_CHILD_OFFSETS = torch.tensor([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)])


def _segment_min(values: torch.Tensor, segments: torch.Tensor, count: int) -> torch.Tensor:
    """Minimum of `values` [M] per segment id [M] -> [count] (+inf where a segment is empty)."""
    result = torch.full((count,), math.inf, dtype=values.dtype, device=values.device)
    return result.scatter_reduce(0, segments, values, reduce="amin", include_self=True)


def _morton_order(points: torch.Tensor, bits: int = 10) -> torch.Tensor:
    """Permutation [N] that sorts points [N, 3] along a Z-order curve (neighbours stay close together)."""
    lower, upper = points.min(dim=0).values, points.max(dim=0).values
    quantised = ((points - lower) / (upper - lower).clamp_min(1e-9) * (2 ** bits - 1)).long()
    code = torch.zeros(len(points), dtype=torch.long, device=points.device)
    for bit in range(bits):
        for axis in range(3):
            code |= ((quantised[:, axis] >> bit) & 1) << (3 * bit + axis)
    return torch.argsort(code)


class NearestFaceIndex:
    """Pruned exact nearest-face queries against fixed triangles [F, 3, 3] (no gradients)."""

    def __init__(self, triangles: torch.Tensor, reach: float, finest_cell: float = 1 / 32,
                 coarsest_cell: float = 1 / 8, moving_faces: torch.Tensor | None = None):
        """moving_faces: [F] bool, optional; lets `query(skip_static=True)` skip points near unmoved faces only."""
        triangles = triangles.detach()
        self.device = triangles.device
        self.faces = FaceConstants.from_triangles(triangles)
        self.reach = float(reach)
        self._build_clusters(triangles)
        levels = max(0, math.ceil(math.log2(coarsest_cell / finest_cell)))
        self.cell_size = coarsest_cell / 2 ** levels
        corners = triangles.reshape(-1, 3)
        self.lower = corners.min(dim=0).values - self.reach
        extent = corners.max(dim=0).values + self.reach - self.lower
        dims = torch.ceil(extent / coarsest_cell).long().clamp_min(1)
        cells, clusters = self._coarse_pairs(dims)
        size = coarsest_cell
        cells, clusters = self._prune(cells, clusters, size, dims)
        for _ in range(levels):
            size, dims = size / 2, dims * 2
            cells = (cells[:, None] * 2 + _CHILD_OFFSETS.to(self.device)).reshape(-1, 3)
            clusters = clusters[:, None].expand(-1, 8).reshape(-1)
            cells, clusters = self._prune(cells, clusters, size, dims)
        self.dims = dims
        keys = self._linear(cells, dims)
        order = torch.argsort(keys * len(self.cluster_centre) + clusters)
        self.cell_clusters = clusters[order]  # [K] cluster ids grouped by finest cell (CSR values)
        self.cell_counts = torch.bincount(keys, minlength=int(dims.prod()))  # [cells] list lengths
        self.cell_starts = torch.cumsum(self.cell_counts, 0) - self.cell_counts  # [cells] CSR offsets
        if moving_faces is None:
            moving_faces = torch.ones(len(self.faces.v0), dtype=torch.bool, device=self.device)
        self.cluster_moving = moving_faces[self.cluster_faces].any(dim=1)  # [K]
        moving_pairs = self.cluster_moving[clusters].to(torch.long)
        self.cell_moving = torch.zeros_like(self.cell_counts).index_add_(0, keys, moving_pairs) > 0  # [cells]

    def _build_clusters(self, triangles: torch.Tensor) -> None:
        """Group faces into clusters of up to CLUSTER_SIZE that never cross a CLUSTER_CELL voxel (tight spheres);
        short clusters repeat their first face, which changes no minimum."""
        voxel = torch.floor(self.faces.centroid / CLUSTER_CELL).long()
        voxel -= voxel.min(dim=0).values
        spans = voxel.max(dim=0).values + 1
        key = (voxel[:, 0] * spans[1] + voxel[:, 1]) * spans[2] + voxel[:, 2]
        order = torch.argsort(key * len(key) + _morton_order(self.faces.centroid).argsort())
        _, counts = torch.unique_consecutive(key[order], return_counts=True)
        group_start = torch.repeat_interleave(torch.cumsum(counts, 0) - counts, counts)
        rank = torch.arange(len(order), device=self.device) - group_start
        clusters_per_group = (counts + CLUSTER_SIZE - 1) // CLUSTER_SIZE
        first_cluster = torch.repeat_interleave(torch.cumsum(clusters_per_group, 0) - clusters_per_group, counts)
        cluster = first_cluster + rank // CLUSTER_SIZE
        slots = torch.full((int(clusters_per_group.sum()), CLUSTER_SIZE), -1, dtype=torch.long, device=self.device)
        slots[cluster, rank % CLUSTER_SIZE] = order
        self.cluster_faces = torch.where(slots >= 0, slots, slots[:, :1])  # [K, CLUSTER_SIZE] face ids
        member_corners = triangles[self.cluster_faces].reshape(len(self.cluster_faces), -1, 3)
        self.cluster_centre = (member_corners.amax(dim=1) + member_corners.amin(dim=1)) / 2  # [K, 3]
        self.cluster_radius = (member_corners - self.cluster_centre[:, None]).norm(dim=-1).amax(dim=1)  # [K]
        centroids = self.faces.centroid[self.cluster_faces]  # [K, CLUSTER_SIZE, 3]
        closest = (centroids - self.cluster_centre[:, None]).norm(dim=-1).argmin(dim=1)
        self.cluster_anchor = centroids[torch.arange(len(centroids), device=self.device), closest]  # [K, 3]
        # Packed per-cluster and per-face bounds: one gather per candidate pair.
        self.cluster_bounds = torch.cat([self.cluster_anchor, self.cluster_centre, self.cluster_radius[:, None]], 1)
        self.face_spheres = torch.cat([self.faces.centroid, self.faces.radius[:, None]], 1)  # [F, 4]

    @staticmethod
    def _linear(cells: torch.Tensor, dims: torch.Tensor) -> torch.Tensor:
        return (cells[:, 0] * dims[1] + cells[:, 1]) * dims[2] + cells[:, 2]

    def _coarse_pairs(self, dims: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        axes = [torch.arange(int(n), device=self.device) for n in dims]
        cells = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).reshape(-1, 3)
        cluster_count = len(self.cluster_centre)
        return (cells[:, None].expand(-1, cluster_count, 3).reshape(-1, 3),
                torch.arange(cluster_count, device=self.device).repeat(len(cells)))

    def _prune(self, cells, clusters, size: float, dims) -> tuple[torch.Tensor, torch.Tensor]:
        """Keep the (cell, cluster) pairs whose cluster can hold the nearest face of some point of the cell."""
        half_diagonal = size * math.sqrt(3) / 2
        centres = self.lower + (cells.to(self.lower.dtype) + 0.5) * size
        keys = self._linear(cells, dims)
        to_anchor = (centres - self.cluster_anchor[clusters]).norm(dim=-1)
        bound = _segment_min(to_anchor, keys, int(dims.prod()))[keys] + half_diagonal
        lower_bound = (centres - self.cluster_centre[clusters]).norm(dim=-1) - self.cluster_radius[clusters]
        lower_bound = lower_bound - half_diagonal
        keep = (lower_bound <= bound) & (lower_bound < self.reach)
        return cells[keep], clusters[keep]

    @property
    def mean_candidates(self) -> float:
        """Average number of candidate faces over the non-empty finest cells (a cost indicator)."""
        filled = self.cell_counts[self.cell_counts > 0]
        return float(filled.float().mean()) * CLUSTER_SIZE if len(filled) else 0.0

    def query(self, points: torch.Tensor, skip_static: bool = False,
              pair_budget: int = 1 << 21) -> tuple[torch.Tensor, torch.Tensor]:
        """Nearest face of each point [N, 3] -> (distance [N], face id [N]; -1 where none is within reach).

        skip_static: points whose candidates are all unmoved faces (see `moving_faces`) also get -1 and +inf:
        whichever of those faces is nearest, the warp leaves the point where it is.
        """
        points = points.detach()
        count = points.shape[0]
        distance = torch.full((count,), math.inf, dtype=points.dtype, device=self.device)
        nearest = torch.full((count,), -1, dtype=torch.long, device=self.device)
        cell = torch.floor((points - self.lower) / self.cell_size).long()
        inside = ((cell >= 0) & (cell < self.dims)).all(dim=1)
        candidates = torch.zeros(count, dtype=torch.long, device=self.device)
        inside_cells = self._linear(cell[inside], self.dims)
        candidates[inside] = self.cell_counts[inside_cells]
        if skip_static:
            candidates[inside] = torch.where(self.cell_moving[inside_cells], candidates[inside], 0)
        active = torch.nonzero(candidates > 0).squeeze(1)
        if len(active) == 0:
            return distance, nearest
        cumulative = torch.cumsum(candidates[active], 0)
        start = 0
        while start < len(active):
            already = int(cumulative[start - 1]) if start > 0 else 0
            end = int(torch.searchsorted(cumulative, torch.tensor(already + pair_budget, device=self.device)))
            end = min(max(end, start + 1), len(active))
            rows = active[start:end]
            distance[rows], nearest[rows] = self._query_rows(points[rows], self._linear(cell[rows], self.dims),
                                                             candidates[rows], skip_static)
            start = end
        return distance, nearest

    def _query_rows(self, points, cells, counts, skip_static: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """Exact nearest face for points [P, 3] whose cells [P] hold counts [P] > 0 candidate clusters."""
        rows = points.shape[0]
        pair_row = torch.repeat_interleave(torch.arange(rows, device=self.device), counts)
        first_pair = torch.cumsum(counts, 0) - counts
        within = torch.arange(len(pair_row), device=self.device) - torch.index_select(first_pair, 0, pair_row)
        list_start = torch.index_select(torch.index_select(self.cell_starts, 0, cells), 0, pair_row)
        pair_cluster = torch.index_select(self.cell_clusters, 0, list_start + within)
        # Cluster bounds: a cluster whose lower bound exceeds another's upper bound cannot hold the winner.
        pair_points = torch.index_select(points, 0, pair_row)
        bounds = torch.index_select(self.cluster_bounds, 0, pair_cluster)  # [M, 7] anchor, centre, radius
        upper = _segment_min((pair_points - bounds[:, 0:3]).norm(dim=-1), pair_row, rows)
        lower = (pair_points - bounds[:, 3:6]).norm(dim=-1) - bounds[:, 6]
        keep = (lower <= torch.index_select(upper, 0, pair_row)) & (lower < self.reach)
        if skip_static:  # a point whose surviving clusters all stay in place is left where it is
            moving = torch.index_select(self.cluster_moving, 0, pair_cluster) & keep
            row_moving = torch.zeros(rows, dtype=torch.long, device=self.device).index_add_(0, pair_row, moving.long())
            keep &= torch.index_select(row_moving > 0, 0, pair_row)
        keep = torch.nonzero(keep).squeeze(1)
        pair_row = torch.index_select(pair_row, 0, keep).repeat_interleave(CLUSTER_SIZE)
        pair_face = torch.index_select(self.cluster_faces, 0, torch.index_select(pair_cluster, 0, keep)).reshape(-1)
        # Face spheres next, then the exact distance on what is left.
        pair_points = torch.index_select(points, 0, pair_row)
        spheres = torch.index_select(self.face_spheres, 0, pair_face)  # [M, 4] centroid, radius
        to_centroid = (pair_points - spheres[:, 0:3]).norm(dim=-1)
        upper = torch.minimum(upper, _segment_min(to_centroid, pair_row, rows))
        keep = torch.nonzero(to_centroid - spheres[:, 3] <= torch.index_select(upper, 0, pair_row)).squeeze(1)
        pair_row, pair_face = torch.index_select(pair_row, 0, keep), torch.index_select(pair_face, 0, keep)
        squared = pair_squared_distance(torch.index_select(pair_points, 0, keep), self.faces, pair_face)
        best = _segment_min(squared, pair_row, rows)
        winners = torch.nonzero(squared == torch.index_select(best, 0, pair_row)).squeeze(1)
        face = torch.full((rows,), len(self.faces.v0), dtype=torch.long, device=self.device)
        face = face.scatter_reduce(0, torch.index_select(pair_row, 0, winners),
                                   torch.index_select(pair_face, 0, winners), reduce="amin", include_self=True)
        found = torch.isfinite(best)
        return best.sqrt(), torch.where(found, face, torch.full_like(face, -1))
