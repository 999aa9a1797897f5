"""Sample grids and path videos: `python -m core.generate images|video` and the helpers the GUI can call."""
from core.media import VideoWriter, write_png
from core.generate.render import (
    RenderCancelled, RenderSettings, ViewRenderer, grid_shape, render_path_frames, tile,
)

__all__ = ["RenderCancelled", "RenderSettings", "VideoWriter", "ViewRenderer", "grid_shape", "render_path_frames",
           "tile", "write_png"]
