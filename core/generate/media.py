"""The generate commands' image and video writers live in core.media (torch-free, shared with the viewer)."""
from core.media import MP4_CRF, VIDEO_SUFFIXES, VideoWriter, check_video_target, publish, write_png  # noqa: F401
