"""Adds the inspection panels' extras (tri-grid pictures, density slice, ray profile, body mesh)
to the frame's request."""
from __future__ import annotations

from renderer.products import BODY_MESH, DENSITY_SLICE, PLANES, RAY_PROFILE
from renderer.requests import InspectOptions, RenderRequest
from viz.state import InspectState

INSPECT_EXTRAS = (PLANES, DENSITY_SLICE, RAY_PROFILE, BODY_MESH)  # in the order the renderer lists them


def inspect_options(inspect: InspectState) -> InspectOptions:
    """The renderer's options for the panels' settings."""
    return InspectOptions(
        plane_mode=inspect.plane_mode, plane_channel=inspect.plane_channel, plane_colormap=inspect.plane_colormap,
        slice_axis=inspect.slice_axis, slice_offset=inspect.slice_offset, slice_quantity=inspect.slice_quantity,
        slice_space=inspect.slice_space, slice_colormap=inspect.slice_colormap, slice_body=inspect.slice_body,
        ray_pixel=(int(inspect.ray_pixel[0]), int(inspect.ray_pixel[1])),
    )


def with_inspect_extras(request: RenderRequest, inspect: InspectState, wanted: set[str]) -> RenderRequest:
    """`request` asking also for the `wanted` inspect extras; unchanged when none is wanted or while previewing.

    Previews (while dragging) skip the extras: they cost a slice or a plane decomposition per frame and the
    final full-quality request brings them.
    """
    names = tuple(name for name in INSPECT_EXTRAS if name in wanted)
    if not names or request.preview:
        return request
    return request.replace(extras=request.extras + names, inspect=inspect_options(inspect))
