"""Camera, pose and latent paths for videos: the JSON format, presets and evaluation (no torch; the GUI imports it)."""
from core.paths.edit import append_keyframe, insert_keyframe, remove_keyframe, retime
from core.paths.evaluate import ease, evaluate, frame_count, frame_times, sample_path, unwrap_yaws
from core.paths.io import PathFileError, load_path, path_from_dict, path_to_dict, save_path
from core.paths.model import (
    EASINGS, PATH_FORMAT, YAW_MODES, CameraKey, CameraPath, FrameState, Keyframe, LatentKey, validate_path,
)
from core.paths.presets import PRESET_NAMES, PRESET_SECONDS, preset_path

__all__ = [
    "EASINGS", "PATH_FORMAT", "PRESET_NAMES", "PRESET_SECONDS", "YAW_MODES", "CameraKey", "CameraPath",
    "FrameState", "Keyframe", "LatentKey", "PathFileError", "append_keyframe", "ease", "evaluate", "frame_count",
    "frame_times", "insert_keyframe", "load_path", "path_from_dict", "path_to_dict", "preset_path",
    "remove_keyframe", "retime", "sample_path", "save_path", "unwrap_yaws", "validate_path",
]
