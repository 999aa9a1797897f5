"""Inert stand-ins for the objects of a released network pickle.

A released 3DPortraitGAN pickle holds modules of classes that this project does not have (and must not
import or execute). The restricted unpickler turns each of them into an `InertRecord`: the class name, the
constructor arguments and the object's `__dict__`, from which the module tree and its tensors are read.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Iterator

import torch


class LegacyFormatProblem(Exception):
    """Something in the pickle stream is refused or malformed; the reader adds the file name."""


class InertRecord:
    """What is left of a pickled object when its class is never imported: name, arguments, state.

    `class_name` is `module.Class` for classes pickled by reference and the bare class name for
    persistent classes (their module exists only as embedded source text, which is never executed).
    """

    class_name = "?"  # set per stand-in class, or per instance for persistent records
    persistent = False  # True for torch_utils.persistence records (embedded source, never executed)
    version = None  # the persistence format version of a persistent record (6 in the released files)

    def __new__(cls, *args: Any, **kwargs: Any) -> "InertRecord":
        record = super().__new__(cls)
        record.args = args
        record.kwargs = kwargs
        record.state = {}
        record.source_chars = 0
        return record

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Construction through REDUCE stores the arguments only (done in __new__)."""

    def __setstate__(self, state: Any) -> None:
        # Objects with __slots__ pickle (dict, slots); keep both halves without interpreting them.
        if isinstance(state, tuple) and len(state) == 2 and (state[0] is None or isinstance(state[0], dict)):
            state = {**(state[0] or {}), **(state[1] or {})}
        if not isinstance(state, dict):
            state = {"__state__": state}
        self.state = state

    def __repr__(self) -> str:
        kind = "persistent" if self.persistent else "by-reference"
        return f"<inert {kind} {self.class_name}>"

    @property
    def is_module(self) -> bool:
        """Whether the record's state looks like a torch.nn.Module's __dict__."""
        return isinstance(self.state.get("_parameters"), dict) and isinstance(self.state.get("_modules"), dict)

    @property
    def init_args(self) -> tuple:
        """Positional constructor arguments recorded by the persistence decorator."""
        return tuple(self.state.get("_init_args", self.state.get("init_args", ())) or ())

    @property
    def init_kwargs(self) -> dict[str, Any]:
        """Keyword constructor arguments recorded by the persistence decorator."""
        return dict(self.state.get("_init_kwargs", self.state.get("init_kwargs", {})) or {})

    @property
    def parameters(self) -> dict[str, torch.Tensor | None]:
        """The module's own parameters (`_parameters`)."""
        return dict(self.state.get("_parameters", {}))

    @property
    def buffers(self) -> dict[str, torch.Tensor | None]:
        """The module's own buffers (`_buffers`)."""
        return dict(self.state.get("_buffers", {}))

    @property
    def children(self) -> dict[str, "InertRecord | None"]:
        """The module's direct submodules (`_modules`)."""
        return dict(self.state.get("_modules", {}))

    def attribute(self, name: str, default: Any = None) -> Any:
        """A plain attribute of the pickled object (for example `neural_rendering_resolution`)."""
        return self.state.get(name, default)

    def submodule(self, dotted: str) -> "InertRecord | None":
        """The record at a dotted path such as `renderer.aligned_SMPL.model`, or None."""
        record: InertRecord | None = self
        for part in dotted.split(".") if dotted else []:
            record = record.children.get(part) if isinstance(record, InertRecord) else None
        return record

    def named_records(self, prefix: str = "") -> Iterator[tuple[str, "InertRecord"]]:
        """(dotted name, record) for this record and every submodule below it, parents first."""
        yield prefix, self
        for name, child in self.children.items():
            if isinstance(child, InertRecord):
                yield from child.named_records(f"{prefix}.{name}" if prefix else name)

    def flat_state(self) -> "OrderedDict[str, torch.Tensor]":
        """Every parameter and buffer below this record under its dotted state_dict name."""
        flat: OrderedDict[str, torch.Tensor] = OrderedDict()
        for path, record in self.named_records():
            if not record.is_module:
                continue
            for name, tensor in {**record.parameters, **record.buffers}.items():
                if isinstance(tensor, torch.Tensor):
                    flat[f"{path}.{name}" if path else name] = tensor
        return flat

    def parameter_names(self) -> set[str]:
        """Dotted names of the entries of `flat_state` that were parameters (not buffers)."""
        names = set()
        for path, record in self.named_records():
            for name, tensor in record.parameters.items() if record.is_module else ():
                if isinstance(tensor, torch.Tensor):
                    names.add(f"{path}.{name}" if path else name)
        return names


def persistent_record(meta: Any) -> InertRecord:
    """Stand-in for `torch_utils.persistence._reconstruct_persistent_obj(meta)`; the source is never run."""
    if not isinstance(meta, dict) or meta.get("type") != "class" or not isinstance(meta.get("class_name"), str):
        raise LegacyFormatProblem(f"malformed persistence record (expected a class record, got {_describe(meta)})")
    record = InertRecord()
    record.class_name = meta["class_name"]
    record.persistent = True
    record.version = meta.get("version")
    record.source_chars = len(meta.get("module_src") or "")
    record.__setstate__(meta.get("state") or {})
    return record


def stand_in_class(qualified_name: str) -> type[InertRecord]:
    """A fresh InertRecord subclass that stands for the class `module.Class` pickled by reference."""
    short_name = qualified_name.rsplit(".", 1)[-1]
    return type(short_name, (InertRecord,), {"class_name": qualified_name, "__module__": __name__})


class AttributeDict(dict):
    """Stand-in for dnnlib.util.EasyDict: a dict whose keys are also readable as attributes."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def _describe(value: Any) -> str:
    return type(value).__name__
