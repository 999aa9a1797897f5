"""The README's picture of posing: the real window (shipped default model, process-mode worker) while a neck
slider is dragged, with the Performance panel showing the last render's stages.

    xvfb-run -a -s "-screen 0 1920x1080x24" python docs/capture_pose_drag.py [--out docs/images/pose_drag.png]

Prints the total render time of each posed frame that came back while the slider moved.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from viz.shell.app import VisualizerApp  # noqa: E402 - after the path set-up above
from viz.shell.app_config import AppConfig  # noqa: E402

STEPS_DEG = (4.0, 8.0, 12.0, 16.0, 20.0, 24.0, 28.0)  # where the neck-turn slider is set, one after another


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "pose_drag.png")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="pose-drag-"))
    app = VisualizerApp(AppConfig(checkpoint=str(ROOT / "checkpoints" / "default.pt"), config_dir=folder / "config",
                                  data_dir=folder / "data", remember_state=False, window_size=(1280, 800)))
    totals: list[float] = []

    def wait_for_result(ctx, count: int) -> None:
        for _ in range(2000):
            if app.info.results >= count and not app.controller.client.busy:
                return
            ctx.yield_()

    def drive(ctx) -> None:
        wait_for_result(ctx, 1)
        ctx.window_focus("//Performance")
        ctx.window_focus("//Pose")
        for value in STEPS_DEG:
            seen = app.info.results
            ctx.item_input_value("//Pose/Neck turn", value)
            wait_for_result(ctx, seen + 1)
            totals.append(float(app.info.last_timings_ms.get("total", 0.0)))
        for _ in range(10):
            ctx.yield_()
        app.controller.pending_window_capture = args.out
        for _ in range(5):
            ctx.yield_()

    app.run(drive)
    print("posed frames, total ms: " + ", ".join(f"{value:.0f}" for value in totals))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
