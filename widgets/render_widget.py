"""Render panel: which output is shown, neural resolution, sample counts, determinism, caching, warp mode."""
from __future__ import annotations

import dataclasses

from imgui_bundle import imgui

from viz.context import WidgetContext
from viz.state import IMPORTANCE_SAMPLERS, RENDER_OUTPUTS, WARP_MODES
from widgets.common import help_marker, label_width, optional_int_combo, option_combo, reset_button

OUTPUT_NAMES = ("final image", "raw (neural)", "depth", "mask", "background")
RESOLUTIONS = (32, 64, 128, 256)  # neural rendering resolutions offered
SAMPLE_COUNTS = (12, 24, 48, 96)  # per-ray sample counts offered


class RenderWidget:
    """Edits `state.render`."""

    def __init__(self, context: WidgetContext):
        self.context = context

    def __call__(self) -> None:
        render = self.context.state.render
        label_width()
        render.output = option_combo("Output", render.output, RENDER_OUTPUTS, OUTPUT_NAMES)
        label_width()
        render.neural_resolution = optional_int_combo("Neural res.", render.neural_resolution, RESOLUTIONS)
        label_width()
        render.depth_samples = optional_int_combo("Depth samples", render.depth_samples, SAMPLE_COUNTS)
        label_width()
        render.importance_samples = optional_int_combo("Fine samples", render.importance_samples, SAMPLE_COUNTS)
        model_sampler = self.context.info.model_info.get("importance_sampler", "project")
        label_width()
        render.importance_sampler = option_combo(
            "Fine sampler", render.importance_sampler, [None, *IMPORTANCE_SAMPLERS],
            [f"model's own ({model_sampler})", *IMPORTANCE_SAMPLERS])
        help_marker("Where the fine samples go. project: over every coarse interval (our models). reference: the "
                    "authors' EG3D sampler, which their released models were trained with (their imports use it).")
        _, render.deterministic = imgui.checkbox("Deterministic sampling", render.deterministic)
        help_marker("No jitter along the rays: the same settings always give the same pixels.")
        _, render.refine_when_idle = imgui.checkbox("Refine when idle", render.refine_when_idle)
        help_marker("After the full-quality frame, while nothing changes: twice the samples per ray, then twice the "
                    "rays per side. Any edit interrupts a refinement; the status bar says which quality is shown.")
        _, render.skip_empty_space = imgui.checkbox("Skip empty space", render.skip_empty_space)
        help_marker("Decode no sample in the cells where this latent has no density (a coarse grid built once per "
                    "latent). The image stays the same to within 40 dB; off decodes every sample.")
        _, render.trigrid_cache = imgui.checkbox("Tri-grid cache", render.trigrid_cache)
        help_marker("Reuse the tri-grid while only the camera or pose changes.")
        imgui.text("Warp")
        for mode in WARP_MODES:
            imgui.same_line()
            if imgui.radio_button(mode, render.warp_mode == mode):
                render.warp_mode = mode
        help_marker("fast: rigid neck/head groups, fields built once per body (default); grid: a field built per "
                    "pose; exact: nearest body face per sample (slow, the reference).")
        if reset_button("Reset render options", render, self.context.defaults.render):
            self.context.state.render = dataclasses.replace(self.context.defaults.render)
