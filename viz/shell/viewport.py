"""The render view: the newest image, aspect kept and centred; drag to orbit, scroll to zoom."""
from __future__ import annotations

from imgui_bundle import imgui

from viz.context import WidgetContext
from viz.gl.textures import ImageTexture
from viz.state import wrap_degrees

ORBIT_DEG_PER_PIXEL = 0.3  # drag sensitivity: a 600-pixel drag turns the head by 180 degrees
ZOOM_PER_WHEEL_STEP = 0.92  # field of view factor per scroll step (in = narrower)
SCROLL_SETTLE_S = 0.4  # scroll steps closer together than this are one edit (one undo step, previews between)
PITCH_LIMIT_DEG = 80.0
FOV_LIMITS_DEG = (4.0, 45.0)


def fit_rectangle(image_size: tuple[int, int], area: tuple[float, float]) -> tuple[float, float, float, float]:
    """(x offset, y offset, width, height) of the largest image rectangle with the image's aspect, centred."""
    image_width, image_height = image_size
    area_width, area_height = area
    if image_width <= 0 or image_height <= 0 or area_width <= 0 or area_height <= 0:
        return 0.0, 0.0, 0.0, 0.0
    scale = min(area_width / image_width, area_height / image_height)
    width, height = image_width * scale, image_height * scale
    return (area_width - width) / 2, (area_height - height) / 2, width, height


class Viewport:
    """Draws `texture` filling the window; mouse edits `state.camera`."""

    def __init__(self, context: WidgetContext, texture: ImageTexture):
        self.context = context
        self.texture = texture
        self.dragging = False  # True while the mouse orbits or zooms the camera (requests become previews)
        self._last_scroll = -1.0e9  # imgui time of the newest scroll step over the view

    def __call__(self) -> None:
        camera = self.context.state.camera
        origin = imgui.get_cursor_screen_pos()
        area = imgui.get_content_region_avail()
        area = (max(area.x, 1.0), max(area.y, 1.0))
        imgui.invisible_button("render view", area)
        now = imgui.get_time()
        if imgui.is_item_active():
            delta = imgui.get_io().mouse_delta
            camera.yaw_deg = wrap_degrees(camera.yaw_deg - delta.x * ORBIT_DEG_PER_PIXEL)
            camera.pitch_deg = min(PITCH_LIMIT_DEG,
                                   max(-PITCH_LIMIT_DEG, camera.pitch_deg + delta.y * ORBIT_DEG_PER_PIXEL))
        wheel = imgui.get_io().mouse_wheel
        if imgui.is_item_hovered() and wheel:
            self._last_scroll = now
            camera.fov_deg = min(FOV_LIMITS_DEG[1], max(FOV_LIMITS_DEG[0], camera.fov_deg * ZOOM_PER_WHEEL_STEP**wheel))
        self.dragging = imgui.is_item_active() or now - self._last_scroll < SCROLL_SETTLE_S

        draw = imgui.get_window_draw_list()
        draw.add_rect_filled(origin, (origin.x + area[0], origin.y + area[1]),
                             imgui.get_color_u32((0.06, 0.06, 0.07, 1.0)))
        if self.texture.texture_id is None:
            self._placeholder(origin, area)
            return
        offset_x, offset_y, width, height = fit_rectangle(self.texture.size, area)
        top_left = (origin.x + offset_x, origin.y + offset_y)
        draw.add_image(imgui.ImTextureRef(self.texture.texture_id), top_left,
                       (top_left[0] + width, top_left[1] + height))
        if self.context.info.busy:
            draw.add_circle_filled((origin.x + area[0] - 12, origin.y + 12), 5.0,
                                   imgui.get_color_u32((1.0, 0.75, 0.2, 0.9)))

    def _placeholder(self, origin, area: tuple[float, float]) -> None:
        """Before the first image: say that it is coming, or why it is not."""
        last = self.context.info.last_message
        failed = last is not None and last[0] == "error"
        message = last[1] if failed else "rendering the first image..."
        color = imgui.get_color_u32((1.0, 0.45, 0.4, 1.0) if failed
                                    else imgui.get_style_color_vec4(imgui.Col_.text_disabled))
        imgui.set_cursor_screen_pos((origin.x + area[0] * 0.1, origin.y + area[1] * 0.45))
        imgui.push_style_color(imgui.Col_.text, color)
        imgui.push_text_wrap_pos(imgui.get_cursor_pos_x() + area[0] * 0.8)
        imgui.text_wrapped(message)
        imgui.pop_text_wrap_pos()
        imgui.pop_style_color()
