"""The torch device of every command and of the render worker: "auto", the default, is CUDA when available.

torch is imported when a device is resolved, so argument parsers and the GUI can use the names for free.
"""
from __future__ import annotations

AUTO = "auto"
DEVICE_HELP = "auto (default: cuda when available, else cpu), cpu, cuda or cuda:N"


def resolve_device(name: str | None):
    """"auto" (or None) -> cuda when available, else cpu; other names as torch reads them. A name torch does
    not know, or CUDA where there is none, raises a ValueError that says what to use instead."""
    import torch  # only when a device is resolved (see the module docstring)

    if name in (None, "", AUTO):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"--device {name!r}: not a device; use {DEVICE_HELP}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {name}: no CUDA device is available here; use --device cpu (or auto)")
    return device
