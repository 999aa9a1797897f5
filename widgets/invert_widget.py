"""Invert panel: fit a photo into the shown model in the background, watch it converge, then show the result."""
from __future__ import annotations

from typing import Callable

import numpy as np
from imgui_bundle import imgui

from core.budget import MAX_INVERT_STEPS
from core.invert.photo import MIN_PHOTO_SIDE
from viz.context import WidgetContext
from viz.gl.textures import ImageTexture
from viz.invert_session import CAMERA_MODES, InvertSession
from widgets.common import em, help_marker, option_combo, section
from widgets.file_dialog import OpenFileDialog

CAMERA_MODE_NAMES = ("search the yaw circle", "current view")  # shown for CAMERA_MODES
PATH_LABELS = ("Photo", "Mask")  # the path fields line up on the longer label
PICTURE_MAX_EM = 16.0  # the photo and the fit are shown at most this wide each


class InvertWidget:
    """Draws the InvertSession `session`; "Use" writes its result into the AppState."""

    def __init__(self, context: WidgetContext, session: InvertSession, show_view: Callable[[], None] | None = None):
        self.context = context
        self.session = session
        self.show_view = show_view  # brings the render view to the front (the app's)
        self.photo_text = ""  # the Photo field's text while it is edited
        self.mask_text = ""
        self.photo_dialog = OpenFileDialog("Open a photo to invert")
        self.mask_dialog = OpenFileDialog("Open the photo's mask")
        self.textures = {"photo": ImageTexture(), "fit": ImageTexture()}
        self._uploaded: dict[str, np.ndarray] = {}  # the array each texture holds (kept: its id stays unique)

    def __call__(self) -> None:
        self._take_dialog_results()
        self._files()
        self._crop()
        self._settings()
        self._run()
        self._pictures()
        self._result()

    def release(self) -> None:
        """Deletes the GL textures (while the context is current)."""
        for texture in self.textures.values():
            texture.release()
        self._uploaded.clear()

    # ----- photo and mask -----

    def _take_dialog_results(self) -> None:
        chosen = self.photo_dialog.poll()
        if chosen is not None:
            self.session.open_photo_in_background(chosen)
        chosen = self.mask_dialog.poll()
        if chosen is not None:
            self.session.set_mask(chosen)

    def _path_field(self, label: str, hint: str, text: str, current: str, dialog: OpenFileDialog,
                    button: str) -> tuple[str, str | None]:
        """A path field with an Open... button: (the field's text, a path typed in to open or None)."""
        style = imgui.get_style()
        label_room = max(imgui.calc_text_size(name).x for name in PATH_LABELS) + style.item_inner_spacing.x
        button_room = imgui.calc_text_size("Open...").x + style.frame_padding.x * 2 + style.item_spacing.x
        imgui.set_next_item_width(max(em(6), imgui.get_content_region_avail().x - label_room - button_room))
        _, text = imgui.input_text_with_hint(label, hint, text)
        wanted = text if imgui.is_item_deactivated_after_edit() else None
        if wanted is None and not imgui.is_item_active():
            text = current  # outside an edit the field shows what is open (also after a refused file)
        imgui.same_line()
        imgui.begin_disabled(dialog.is_open)
        if imgui.button(button):
            problem = dialog.open(current)
            if problem is not None:
                self.context.info.message(problem, "warning")
        imgui.end_disabled()
        return text, wanted

    def _files(self) -> None:
        session = self.session
        self.photo_text, wanted = self._path_field("Photo", "photo .png / .jpg", self.photo_text, session.photo_path,
                                                   self.photo_dialog, "Open...")
        if wanted is not None and wanted.strip() != session.photo_path:
            session.open_photo_in_background(wanted)
        imgui.set_item_tooltip("A portrait photo; the square below is what is fitted")
        if session.opening:
            imgui.text_disabled("opening the photo...")
        imgui.begin_disabled(not session.has_photo)
        self.mask_text, wanted = self._path_field("Mask", "optional: white = the person", self.mask_text,
                                                  session.mask_path, self.mask_dialog, "Open...##mask")
        if wanted is not None:
            session.set_mask(wanted)
        imgui.end_disabled()
        imgui.set_item_tooltip("Without a mask one is estimated from the photo's background colours "
                               "(a colour plane fitted at its top and upper sides)")

    def _crop(self) -> None:
        session = self.session
        if not session.has_photo:
            return
        width, height = session.photo_size
        crop, largest = session.crop, min(width, height)
        imgui.set_next_item_width(-em(5.5))
        changed_size, size = imgui.slider_int("Crop size", crop.size, min(MIN_PHOTO_SIDE, largest), largest)
        imgui.set_next_item_width(-em(5.5))
        changed_left, left = imgui.slider_int("Crop left", crop.left, 0, max(0, width - crop.size))
        imgui.set_next_item_width(-em(5.5))
        changed_top, top = imgui.slider_int("Crop top", crop.top, 0, max(0, height - crop.size))
        if changed_size or changed_left or changed_top:
            session.set_crop(left, top, size)
        imgui.begin_disabled(session.crop_is_centred)
        if imgui.button("Reset##crop"):
            session.reset_crop()
        imgui.end_disabled()
        imgui.same_line()
        imgui.text_disabled(f"photo {width}x{height}")

    def _settings(self) -> None:
        session = self.session
        section("Fit")
        imgui.set_next_item_width(em(11))
        session.camera_mode = option_combo("Camera", session.camera_mode, CAMERA_MODES, CAMERA_MODE_NAMES)
        help_marker("search: try the whole yaw circle first (slower). current view: start from the viewer's camera, "
                    "for a photo seen from about there.")
        imgui.set_next_item_width(em(5))
        changed, steps = imgui.input_int("Steps", session.steps, 0, 0)
        if changed:
            session.steps = min(MAX_INVERT_STEPS, max(0, steps))
        imgui.same_line()
        imgui.set_next_item_width(em(4))
        changed, steps = imgui.input_int("Fine-tune steps", session.finetune_steps, 0, 0)
        if changed:
            session.finetune_steps = min(MAX_INVERT_STEPS, max(0, steps))
        imgui.set_item_tooltip("Pivotal tuning: a copy of the generator is tuned to the photo (written as "
                               "finetuned.pt; Use opens it)")
        imgui.same_line()
        _, session.w_plus = imgui.checkbox("W+", session.w_plus)
        imgui.set_item_tooltip("One w per layer: closer to the photo, less like the model's faces from other views")

    def _run(self) -> None:
        session = self.session
        imgui.begin_disabled(session.running or not session.has_photo)
        if imgui.button("Start##invert"):
            session.start()
        imgui.end_disabled()
        imgui.same_line()
        imgui.begin_disabled(not session.running)
        if imgui.button("Stop##invert"):
            session.stop()
        imgui.end_disabled()
        imgui.set_item_tooltip("Stops and keeps the best result so far")
        imgui.same_line()
        status = session.status
        if status is None:
            imgui.progress_bar(0.0, (-1, 0), "not started")
        elif status.state == "error":
            imgui.progress_bar(status.fraction, (-1, 0), "failed")
            imgui.text_wrapped(status.error or "")
        else:
            imgui.progress_bar(status.fraction, (-1, 0), status.message or status.state)

    def _pictures(self) -> None:
        session = self.session
        photo, fit = session.photo_preview(), session.preview
        if photo is None and fit is None:
            return
        side = (imgui.get_content_region_avail().x - imgui.get_style().item_spacing.x) / 2
        side = min(em(PICTURE_MAX_EM), max(em(4), side))
        for index, (name, image, caption) in enumerate((("photo", photo, "photo (the fitted square)"),
                                                        ("fit", fit, "the fit's best so far"))):
            if index:
                imgui.same_line()
            imgui.begin_group()
            if image is None:
                imgui.dummy((side, side))
            else:
                texture = self._texture(name, image)
                imgui.image(imgui.ImTextureRef(texture.texture_id), (side, side))
            imgui.text_disabled(caption)
            imgui.end_group()

    def _result(self) -> None:
        session = self.session
        imgui.begin_disabled(session.products is None)
        if imgui.button("Use##invert"):
            session.use()
            if self.show_view is not None:
                self.show_view()  # the result is seen in the View tab, which shares this dock
        imgui.end_disabled()
        imgui.set_item_tooltip("Show the inverted latent with its camera and pose (Ctrl+Z goes back)")
        if session.products is not None:
            imgui.same_line()
            imgui.text_wrapped(session.report_line())
            imgui.text_disabled(session.products.out_dir)
            imgui.set_item_tooltip("latent.npz, report.json, before_after.png and strip_360.png are here")

    def _texture(self, name: str, image: np.ndarray) -> ImageTexture:
        texture = self.textures[name]
        if self._uploaded.get(name) is not image or texture.texture_id is None:
            texture.upload(np.ascontiguousarray(image, dtype=np.uint8))
            self._uploaded[name] = image
        return texture
