"""Latent panel: seed, 2D seed grid blending 4 neighbours in W, truncation, style mixing, animation."""
from __future__ import annotations

import math
from pathlib import Path

from imgui_bundle import imgui

from viz.context import WidgetContext
from viz.state import NOISE_MODES, SEED_GRID_STEP
from widgets.common import em, label_width, option_combo, reset_button, section, slider_float

GRID_CELLS_SHOWN = 4  # the grid pad shows this many seeds per side around the current point
DEFAULT_NUM_WS = 14  # number of ws when the model does not report it


class LatentWidget:
    """Edits `state.latent`."""

    def __init__(self, context: WidgetContext):
        self.context = context

    def __call__(self) -> None:
        latent = self.context.state.latent
        default = self.context.defaults.latent
        if latent.latent_file is not None:
            # An inverted photo (Invert panel) is shown; truncation does not apply to it.
            imgui.text_wrapped(f"Showing the inverted latent {Path(latent.latent_file).name}")
            imgui.set_item_tooltip(latent.latent_file)
            if imgui.button("Back to seeds"):
                latent.latent_file = None

        label_width()
        changed, seed = imgui.input_int("Seed", latent.seed)
        if changed:
            latent.set_seed(max(0, seed))
            latent.latent_file = None
        imgui.same_line()
        if reset_button("Reset##seed", (latent.seed_x, latent.seed_y), (default.seed_x, default.seed_y)):
            latent.seed_x, latent.seed_y = default.seed_x, default.seed_y
        self._seed_grid()

        section("Truncation")
        label_width()
        latent.truncation_psi = slider_float("Truncation psi", latent.truncation_psi, 0.0, 1.0, "%.2f")
        imgui.set_item_tooltip("0.7 suits our models (the reference used 0.12 for its own). 1 = no truncation.")
        imgui.same_line()
        if reset_button("Reset##psi", latent.truncation_psi, default.truncation_psi):
            latent.truncation_psi = default.truncation_psi
        num_ws = int(self.context.info.model_info.get("num_ws", DEFAULT_NUM_WS))
        self._fit_to_model(num_ws)
        use_cutoff = latent.truncation_cutoff is not None
        changed, use_cutoff = imgui.checkbox("Cutoff", use_cutoff)
        if changed:
            latent.truncation_cutoff = min(7, num_ws) if use_cutoff else None
        if latent.truncation_cutoff is not None:
            imgui.same_line()
            imgui.set_next_item_width(-1)
            _, latent.truncation_cutoff = imgui.slider_int("##cutoff", latent.truncation_cutoff, 1, num_ws,
                                                           "first %d ws")
        label_width()
        latent.noise_mode = option_combo("Noise", latent.noise_mode, NOISE_MODES)

        section("Style mixing")
        _, latent.stylemix_enabled = imgui.checkbox("Style mixing", latent.stylemix_enabled)
        imgui.begin_disabled(not latent.stylemix_enabled)
        label_width()
        changed, mix_seed = imgui.input_int("Mix seed", latent.stylemix_seed)
        if changed:
            latent.stylemix_seed = max(0, mix_seed)
        label_width()
        changed, first, last = imgui.drag_int_range2(
            "Mixed ws", latent.stylemix_first, latent.stylemix_last, 0.1, 0, num_ws - 1
        )
        if changed:
            latent.stylemix_first, latent.stylemix_last = min(first, last), max(first, last)
        imgui.end_disabled()

        section("Animation")
        _, latent.animate = imgui.checkbox("Animate", latent.animate)
        imgui.same_line()
        imgui.set_next_item_width(-1)
        latent.animate_speed = slider_float("##anim speed", latent.animate_speed, 0.01, 2.0, "%.2f seeds/s")

    def _fit_to_model(self, num_ws: int) -> None:
        """Keeps w indices inside the shown model (a smaller model has fewer ws than the defaults assume)."""
        latent = self.context.state.latent
        last = num_ws - 1
        if latent.stylemix_enabled and latent.stylemix_last > last:
            latent.stylemix_first, latent.stylemix_last = min(latent.stylemix_first, last), last
        if latent.truncation_cutoff is not None and latent.truncation_cutoff > num_ws:
            latent.truncation_cutoff = num_ws

    def _seed_grid(self) -> None:
        """A pad of seed cells; dragging moves the fractional grid point (bilinear blend of 4 seeds)."""
        latent = self.context.state.latent
        side = min(imgui.get_content_region_avail().x, em(12))
        origin = imgui.get_cursor_screen_pos()
        imgui.invisible_button("Seed grid", (side, side))
        cell = side / GRID_CELLS_SHOWN
        if imgui.is_item_active():
            latent.latent_file = None  # moving on the seed grid shows seeds again
            delta = imgui.get_io().mouse_delta
            latent.seed_x = max(0.0, latent.seed_x - delta.x / cell)
            latent.seed_y = max(0.0, latent.seed_y - delta.y / cell)
        draw = imgui.get_window_draw_list()
        centre_x, centre_y = origin.x + side / 2, origin.y + side / 2
        draw.add_rect_filled(origin, (origin.x + side, origin.y + side), imgui.get_color_u32(imgui.Col_.frame_bg))
        grid_color = imgui.get_color_u32(imgui.Col_.border)
        text_color = imgui.get_color_u32(imgui.Col_.text_disabled)
        first_x = math.floor(latent.seed_x - GRID_CELLS_SHOWN / 2)
        first_y = math.floor(latent.seed_y - GRID_CELLS_SHOWN / 2)
        draw.push_clip_rect(origin, (origin.x + side, origin.y + side), True)
        for offset in range(GRID_CELLS_SHOWN + 2):
            x = centre_x + (first_x + offset - latent.seed_x) * cell
            y = centre_y + (first_y + offset - latent.seed_y) * cell
            draw.add_line((x, origin.y), (x, origin.y + side), grid_color)
            draw.add_line((origin.x, y), (origin.x + side, y), grid_color)
        for column in range(first_x, first_x + GRID_CELLS_SHOWN + 2):
            for row in range(first_y, first_y + GRID_CELLS_SHOWN + 2):
                if column < 0 or row < 0:
                    continue
                x = centre_x + (column - latent.seed_x) * cell
                y = centre_y + (row - latent.seed_y) * cell
                draw.add_text((x + 2, y + 1), text_color, str(column + row * SEED_GRID_STEP))
        draw.pop_clip_rect()
        draw.add_circle_filled((centre_x, centre_y), 4.0, imgui.get_color_u32(imgui.Col_.plot_lines_hovered))
        imgui.set_item_tooltip("Drag to blend the 4 neighbouring seeds in W (seed = x + 100 y)")
        imgui.same_line()
        imgui.begin_group()
        imgui.text(f"x {latent.seed_x:.2f}")
        imgui.text(f"y {latent.seed_y:.2f}")
        if imgui.small_button("Snap"):
            latent.seed_x, latent.seed_y = float(round(latent.seed_x)), float(round(latent.seed_y))
        imgui.end_group()
