"""The visualizer window: hello_imgui runner, docking layout, per-frame wiring of panels and controller."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

# imgui_bundle before glfw: it points glfw at imgui-bundle's library
from imgui_bundle import glfw_utils, hello_imgui, imgui, immapp

import glfw

from viz.capture import save_png
from viz.context import RuntimeInfo
from viz.controller import Controller, RenderClientLike
from viz.gl.textures import ImageTexture, read_window_pixels
from viz.shell.app_config import AppConfig
from viz.shell.menus import model_label, show_menus, show_status
from viz.shell.shortcuts import handle_shortcuts
from viz.shell.viewport import Viewport
from viz.state import AppState, StateFileError, load_state, save_state
from widgets.camera_widget import CameraWidget
from widgets.capture_widget import CaptureWidget
from widgets.checkpoint_widget import CheckpointWidget
from widgets.density_widget import DensityWidget
from widgets.help_widget import HelpWidget
from widgets.invert_widget import InvertWidget
from widgets.latent_widget import LatentWidget
from widgets.mesh_widget import MeshWidget
from widgets.paths_widget import PathsWidget
from widgets.performance_widget import PerformanceWidget
from widgets.pose_widget import PoseWidget
from widgets.render_widget import RenderWidget
from widgets.training_widget import TrainingWidget
from widgets.trigrid_widget import TrigridWidget

VIEW_WINDOW = "View"
# (panel title, dock space) in tab order; the first panel of each space is shown in front.
PANEL_LAYOUT = (
    ("Latent", "LeftTop"), ("Model", "LeftTop"),
    ("Camera", "LeftBottom"), ("Paths", "LeftBottom"),
    ("Pose", "RightTop"), ("Render", "RightTop"),
    ("Capture", "RightBottom"), ("Performance", "RightBottom"),
    ("Tri-grid", "MainDockSpace"), ("Density", "MainDockSpace"), ("Mesh", "MainDockSpace"),
    ("Training", "MainDockSpace"), ("Invert", "MainDockSpace"),
)
TestFunction = Callable[["imgui.test_engine.TestContext"], None]


def initial_state(config: AppConfig) -> tuple[AppState, bool, list[tuple[str, str]]]:
    """(state to start with, True if the model is the untrained stand-in, (level, message) pairs for the user)."""
    messages = []
    state = AppState()
    source = config.state_file or (config.remembered_state_path if config.remember_state else None)
    if source is not None and (config.state_file is not None or Path(source).exists()):
        try:
            state = load_state(source)
            messages.append(("info", f"state restored from {source}"))
        except StateFileError as error:
            if config.state_file is not None:
                raise
            messages.append(("warning", f"{error} (started from defaults)"))
    # A session starts with its panels: presentation mode is switched on per session.
    state.ui.presentation = False
    checkpoint, untrained = config.resolve_checkpoint()
    if config.checkpoint or not (config.state_file and state.checkpoint):
        state.checkpoint = checkpoint
    else:
        untrained = False
    if untrained:
        messages.append(("warning", "no trained default model yet (checkpoints/default.pt): showing an untrained "
                         f"{checkpoint}"))
    return state, untrained, messages


class VisualizerApp:
    """One window; `run()` blocks until it closes."""

    def __init__(self, config: AppConfig, client: RenderClientLike | None = None):
        self.config = config
        state, untrained, messages = initial_state(config)
        self._client = client
        self.texture = ImageTexture()
        self.controller = Controller(state, client, config.device, Path(config.data_dir) / "captures", untrained,
                                     active_runs_path=Path(config.config_dir) / "training_runs.json")
        self.controller.state_path = Path(config.state_file or Path(config.config_dir) / "saved_state.json")
        for level, message in messages:
            self.controller.info.message(message, level)
        controller, context = self.controller, self.controller.context
        self.viewport = Viewport(context, self.texture)
        # Every panel is drawn while its tab is visible; the sessions behind them run in the controller.
        self.panels = {
            "Latent": LatentWidget(context), "Model": CheckpointWidget(context), "Camera": CameraWidget(context),
            "Pose": PoseWidget(context), "Render": RenderWidget(context),
            "Capture": CaptureWidget(context), "Performance": PerformanceWidget(context),
            "Tri-grid": TrigridWidget(context),
            "Density": DensityWidget(context, lambda: controller.last_image),
            "Mesh": MeshWidget(context, controller.mesh),
            "Paths": PathsWidget(context, controller.paths),
            "Invert": InvertWidget(context, controller.invert, lambda: self.focus_panel(VIEW_WINDOW)),
            "Training": TrainingWidget(context, controller.training),
        }
        assert set(self.panels) == {title for title, _ in PANEL_LAYOUT}, "a panel without a place in the layout"
        self.help = HelpWidget(context)
        self.frames_after_first_render = 0  # frames since the first result (image or error), for `config.frames`
        self.screenshot_written: Path | None = None
        self._title = ""
        self._presentation_applied = False
        self._hidden_by_presentation: list[str] = []
        self._frame_started = 0.0  # perf_counter at the start of this frame
        self._last_frame_end = 0.0  # perf_counter at the end of the previous frame
        self._animating = False  # turntable or latent animation ran this frame

    @property
    def state(self) -> AppState:
        return self.controller.state

    @property
    def info(self) -> RuntimeInfo:
        return self.controller.info

    # ----- running -----

    def runner_params(self) -> hello_imgui.RunnerParams:
        params = hello_imgui.RunnerParams()
        window = params.app_window_params
        window.window_title = self._window_title()
        window.window_geometry.size = tuple(self.config.window_size)
        window.restore_previous_geometry = False
        gui = params.imgui_window_params
        gui.default_imgui_window_type = hello_imgui.DefaultImGuiWindowType.provide_full_screen_dock_space
        gui.show_menu_bar = True
        gui.show_menu_app = False
        gui.show_menu_view = False
        gui.show_status_bar = True
        gui.show_status_fps = False
        gui.remember_status_bar_settings = False
        gui.remember_theme = False
        params.callbacks.show_menus = lambda: show_menus(
            self.controller.context, self.focus_panel, self.controller.state_path
        )
        params.callbacks.show_status = lambda: show_status(self.controller.context)
        params.callbacks.post_init = self._post_init
        params.callbacks.pre_new_frame = self._mark_frame_start
        params.callbacks.show_gui = self._frame_start
        params.callbacks.before_imgui_render = self._frame_end
        params.callbacks.before_swap = self._before_swap
        params.callbacks.before_exit = self._before_exit
        # Idle frames still poll for results, at fps_idle; animations and recordings switch idling off.
        params.fps_idling.fps_idle = max(self.config.fps_idle, 1.0)
        params.fps_idling.enable_idling = self.config.fps_idle > 0
        if self.config.remember_state:
            Path(self.config.config_dir).mkdir(parents=True, exist_ok=True)
            params.ini_folder_type = hello_imgui.IniFolderType.absolute_path
            params.ini_filename = str(Path(self.config.ini_path).resolve())
        else:
            params.ini_disable = True
        params.docking_params = self._docking_params()
        return params

    def run(self, test_function: TestFunction | None = None) -> None:
        """Opens the window and runs until it is closed (or until `test_function` returns)."""
        params = self.runner_params()
        add_ons = immapp.AddOnsParams(with_implot=True)
        if test_function is None:
            immapp.run(params, add_ons)
        else:
            from imgui_bundle.immapp import testing  # lazy: the test engine is loaded for tests only

            testing.run(test_function=test_function, runner_params=params, add_ons_params=add_ons,
                        run_speed=testing.TestRunSpeed.fast)

    def focus_panel(self, title: str) -> None:
        """Shows and brings a panel to the front."""
        window = hello_imgui.get_runner_params().docking_params.dockable_window_of_name(title)
        if window is not None:
            window.is_visible = True
            window.focus_window_at_next_frame = True

    # ----- callbacks -----

    def _docking_params(self) -> hello_imgui.DockingParams:
        split = hello_imgui.DockingSplit
        splits = [
            split("MainDockSpace", "LeftTop", imgui.Dir.left, 0.26),
            split("MainDockSpace", "RightTop", imgui.Dir.right, 0.3),
            split("LeftTop", "LeftBottom", imgui.Dir.down, 0.5),
            split("RightTop", "RightBottom", imgui.Dir.down, 0.42),
        ]
        view = hello_imgui.DockableWindow(VIEW_WINDOW, "MainDockSpace", self.viewport)
        view.can_be_closed = False
        view.imgui_window_flags = imgui.WindowFlags_.no_scrollbar | imgui.WindowFlags_.no_scroll_with_mouse
        windows = [view]
        for title, space in PANEL_LAYOUT:
            windows.append(hello_imgui.DockableWindow(title, space, self.panels[title]))
        params = hello_imgui.DockingParams()
        params.docking_splits = splits
        params.dockable_windows = windows
        return params

    def _post_init(self) -> None:
        if self._client is None:
            from renderer.worker import RenderClient  # the client module imports no torch; its worker does

            self._client = RenderClient(mode=self.config.render_mode, device=self.config.device)
        self.controller.client = self._client
        window = self._glfw_window()
        if window is not None:
            glfw.set_drop_callback(window, self._on_drop)

    def _mark_frame_start(self) -> None:
        self._frame_started = time.perf_counter()

    def _frame_start(self) -> None:
        """Runs first in every frame: results in, texture upload, shortcuts, animations."""
        controller = self.controller
        elapsed = controller.tick()
        controller.poll_results()
        if controller.new_image and controller.last_image is not None:
            self.texture.upload(controller.last_image)
            controller.new_image = False
        handle_shortcuts(controller.context)
        self._animating = controller.advance_animations(elapsed)
        self._animating = controller.update_sessions(elapsed) or self._animating  # path playback drives the state
        self._apply_presentation_mode()
        self._update_title()
        self.help()
        if self.info.results:
            self.frames_after_first_render += 1
        frames = self.config.frames
        if (frames is not None and self.frames_after_first_render >= frames
                and controller.pending_window_capture is None):
            if self.config.screenshot is not None and self.screenshot_written is None:
                controller.pending_window_capture = Path(self.config.screenshot)
            elif self.screenshot_written is not None or self.config.screenshot is None:
                hello_imgui.get_runner_params().app_shall_exit = True

    def _frame_end(self) -> None:
        """Runs after all panels: finished edits become undo steps; a changed request is sent."""
        dragging = imgui.is_any_item_active() or self.viewport.dragging
        self.controller.end_frame(editing=dragging or self._animating, dragging=dragging or self._animating)
        if self.config.fps_idle > 0:
            idling = hello_imgui.get_runner_params().fps_idling
            idling.enable_idling = not (self._animating or self.info.recording or dragging)
        now = time.perf_counter()
        self.info.frame_work_ms.append((now - self._frame_started) * 1000.0)
        # Without vsync (virtual displays) the loop would spin: keep frames at least 1/max_fps apart.
        spare = 1.0 / self.config.max_fps - (now - self._last_frame_end)
        if spare > 0:
            time.sleep(spare)
        self._last_frame_end = time.perf_counter()

    def _before_swap(self) -> None:
        target = self.controller.pending_window_capture
        if target is None:
            return
        self.controller.pending_window_capture = None
        written = save_png(read_window_pixels(), target)
        self.info.message(f"window saved to {written}")
        if self.config.screenshot is not None and Path(target) == Path(self.config.screenshot):
            self.screenshot_written = written

    def _before_exit(self) -> None:
        # Bring hidden panels back so that the remembered layout does not start without them.
        self.state.ui.presentation = False
        self._apply_presentation_mode()
        self.texture.release()
        self.panels["Invert"].release()
        if self.config.remember_state:
            try:
                save_state(self.state, self.config.remembered_state_path)
            except OSError as error:
                print(f"could not remember the state in {self.config.remembered_state_path}: {error}")
        if self.controller.client is not None:
            self.controller.close()

    def _on_drop(self, _window, paths: list[str]) -> None:
        if paths:
            self.controller.context.post("open_checkpoint", paths[0])

    def _apply_presentation_mode(self) -> None:
        """Hides every panel in presentation mode and brings back those that were shown before."""
        wanted = self.state.ui.presentation
        if wanted == self._presentation_applied:
            return
        windows = hello_imgui.get_runner_params().docking_params.dockable_windows
        if wanted:
            self._hidden_by_presentation = [w.label for w in windows if w.label != VIEW_WINDOW and w.is_visible]
            for window in windows:
                if window.label in self._hidden_by_presentation:
                    window.is_visible = False
        else:
            for window in windows:
                if window.label in self._hidden_by_presentation:
                    window.is_visible = True
        self._presentation_applied = wanted

    def _window_title(self) -> str:
        return f"Portrait visualizer - {model_label(self.controller.context)}"

    def _update_title(self) -> None:
        title = self._window_title()
        if title != self._title:
            window = self._glfw_window()
            if window is not None:
                glfw.set_window_title(window, title)
            self._title = title

    @staticmethod
    def _glfw_window():
        try:
            return glfw_utils.glfw_window_hello_imgui()
        except Exception:  # noqa: BLE001 - another backend than GLFW: no drop or title support
            return None
