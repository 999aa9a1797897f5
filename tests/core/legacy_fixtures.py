"""Writers of pickles shaped like the released 3DPortraitGAN network pickles, for the tests of core.legacy.

The stream is written opcode by opcode with a pure-Python pickler, so it can name globals that do not exist on
this machine (torch_utils.persistence._reconstruct_persistent_obj, torch.cuda.FloatStorage on cuda:0,
training.*, smplx, dnnlib) exactly as a file saved by the reference code on a GPU machine does.
"""
from __future__ import annotations

import io
import pickle
import struct
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
STORAGE_NAMES = {
    torch.float32: "FloatStorage", torch.float64: "DoubleStorage", torch.float16: "HalfStorage",
    torch.int64: "LongStorage", torch.int32: "IntStorage", torch.uint8: "ByteStorage", torch.bool: "BoolStorage",
}


@dataclass(frozen=True)
class GlobalRef:
    """A global written into the stream by name only."""

    module: str
    name: str


@dataclass
class Call:
    """`function(*args)` in the stream (REDUCE), optionally followed by BUILD with `state`."""

    function: GlobalRef
    args: tuple
    state: Any = None


@dataclass
class NewObject:
    """What protocol 2+ writes for an ordinary object: cls.__new__(cls), its dict items, then BUILD(state)."""

    cls: GlobalRef
    state: Any = None
    items: tuple = ()


PERSISTENCE = GlobalRef("torch_utils.persistence", "_reconstruct_persistent_obj")
EASY_DICT = GlobalRef("dnnlib.util", "EasyDict")


class ReferencePickler(pickle._Pickler):
    """Pickler that writes GlobalRef/Call/NewObject literally and tensors as the reference's torch 1.11 did."""

    def __init__(self, stream, storage_module: str = "torch.cuda", location: str = "cuda:0", protocol: int = 4):
        super().__init__(stream, protocol=protocol)
        self.storage_module = storage_module
        self.location = location

    def save(self, obj: Any, save_persistent_id: bool = True) -> None:
        if isinstance(obj, GlobalRef):
            self._write_global(obj)
        elif isinstance(obj, Call):
            self.save(obj.function)
            self.save(obj.args)
            self.write(pickle.REDUCE)
            if obj.state is not None:
                self.save(obj.state)
                self.write(pickle.BUILD)
        elif isinstance(obj, NewObject):
            self.save(obj.cls)
            self.save(())
            self.write(pickle.NEWOBJ)
            if obj.items:
                self._batch_setitems(iter(obj.items))
            if obj.state is not None:
                self.save(obj.state)
                self.write(pickle.BUILD)
        elif isinstance(obj, torch.nn.Parameter):
            self.save(Call(GlobalRef("torch._utils", "_rebuild_parameter"), (obj.data, False, OrderedDict())))
        elif isinstance(obj, torch.Tensor):
            self.save(tensor_call(obj, self.storage_module, self.location))
        elif isinstance(obj, np.ndarray):
            # numpy 1.x, which saved the released files, names its reconstructor numpy.core.multiarray.
            _, args, state = obj.__reduce__()
            reconstruct = GlobalRef("numpy.core.multiarray", "_reconstruct")
            self.save(Call(reconstruct, (GlobalRef("numpy", "ndarray"),) + args[1:], state))
        else:
            super().save(obj, save_persistent_id)

    def _write_global(self, ref: GlobalRef) -> None:
        if self.proto >= 4:
            self.save(ref.module)
            self.save(ref.name)
            self.write(pickle.STACK_GLOBAL)
        else:
            self.write(pickle.GLOBAL + f"{ref.module}\n{ref.name}\n".encode())


def tensor_call(tensor: torch.Tensor, storage_module: str = "torch.cuda", location: str = "cuda:0") -> Call:
    """`_rebuild_tensor_v2(_load_from_bytes(blob), offset, size, stride, False, OrderedDict())`."""
    tensor = tensor.detach()
    blob = legacy_storage_blob(tensor.contiguous().reshape(-1), storage_module, location)
    storage = Call(GlobalRef("torch.storage", "_load_from_bytes"), (blob,))
    stride = tuple(tensor.contiguous().stride())
    return Call(GlobalRef("torch._utils", "_rebuild_tensor_v2"),
                (storage, 0, tuple(tensor.shape), stride, False, OrderedDict()))


class _StorageMarker:
    """The storage object inside a legacy blob; it becomes a persistent id."""


class _StoragePickler(ReferencePickler):
    def __init__(self, stream, storage_id: tuple):
        super().__init__(stream, protocol=2)
        self.storage_id = storage_id

    def persistent_id(self, obj: Any) -> Any:
        return self.storage_id if obj is _StorageMarker else None


def legacy_storage_blob(flat: torch.Tensor, storage_module: str = "torch.cuda", location: str = "cuda:0",
                        key: str = "94178351431632", storage_class: str | None = None) -> bytes:
    """A legacy torch.save stream of one storage holding `flat` ([N]), tagged with `storage_module`/`location`."""
    stream = io.BytesIO()
    for header in (LEGACY_MAGIC_NUMBER, 1001, {"protocol_version": 1001, "little_endian": True,
                                                 "type_sizes": {"short": 2, "int": 4, "long": 8}}):
        stream.write(pickle.dumps(header, protocol=2))
    storage_type = GlobalRef(storage_module, storage_class or STORAGE_NAMES[flat.dtype])
    _StoragePickler(stream, ("storage", storage_type, key, location, flat.numel(), None)).dump(_StorageMarker)
    stream.write(pickle.dumps([key], protocol=2))
    stream.write(struct.pack("<q", flat.numel()))
    stream.write(flat.cpu().numpy().tobytes())
    return stream.getvalue()


def module_state(parameters: dict, buffers: dict, children: dict, **attributes: Any) -> dict:
    """The __dict__ of a torch.nn.Module as torch 1.11 pickled it."""
    state = {"training": False, "_parameters": OrderedDict(parameters), "_buffers": OrderedDict(buffers),
             "_non_persistent_buffers_set": set()}
    for hooks in ("_backward_hooks", "_forward_hooks", "_forward_pre_hooks", "_state_dict_hooks",
                  "_load_state_dict_pre_hooks"):
        state[hooks] = OrderedDict()
    state["_modules"] = OrderedDict(children)
    state.update(attributes)
    return state


def persistent_module(class_name: str, source: str, state: dict, init_kwargs: dict | None = None) -> Call:
    """A torch_utils.persistence record whose module source is `source` (which the reference would exec)."""
    state = {**state, "_init_args": (), "_init_kwargs": dict(init_kwargs or {})}
    meta = {"type": "class", "version": 6, "module_src": source, "class_name": class_name, "state": state}
    return Call(PERSISTENCE, (meta,))


def reference_module(qualified_name: str, state: dict) -> NewObject:
    """A module pickled by reference (its class must be importable for the reference loader)."""
    module, name = qualified_name.rsplit(".", 1)
    return NewObject(GlobalRef(module, name), state=state)


def write_pickle(path, obj: Any, **pickler_options: Any) -> None:
    """Write `obj` through ReferencePickler to `path`."""
    with open(path, "wb") as stream:
        ReferencePickler(stream, **pickler_options).dump(obj)


# ---- a released-style generator pickle built from any state dict -------------------------------------------

# Modules the reference pickles by reference (their classes must be importable); everything else is persistent.
REFERENCE_CLASSES = {
    "decoder": "training.smpl_triplane.OSGDecoder",
    "decoder.net": "torch.nn.modules.container.Sequential",
    "decoder.net.1": "torch.nn.modules.activation.Softplus",
    "pose_branch": "training.smpl_triplane.GPoseBranch",
    "pose_branch.net": "torch.nn.modules.container.ModuleList",
    "ray_sampler": "training.volumetric_rendering.ray_sampler.RaySampler",
    "renderer": "training.volumetric_rendering.renderer.ImportanceRenderer",
    "renderer.aligned_SMPL": "training.aligned_smpl.AlignedSMPL",
    "renderer.aligned_SMPL.model": "smplx.body_models.SMPL",
    "renderer.aligned_SMPL.model.vertex_joint_selector": "smplx.vertex_joint_selector.VertexJointSelector",
}
SMPL_PARENTS = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21]


def planted_source(marker_path) -> str:
    """Module source whose execution leaves a marker file and a global behind (it must never run)."""
    return (
        "import builtins, pathlib\n"
        f"pathlib.Path({str(marker_path)!r}).write_text('the embedded module source was executed')\n"
        "builtins.LEGACY_SOURCE_EXECUTED = True\n"
        "class TriPlaneGenerator:\n    pass\n"
    )


def synthetic_smpl_buffers(vertices: int = 40, faces: int = 60, seed: int = 0) -> dict[str, torch.Tensor]:
    """Buffers of a smplx SMPL layer (smplx's own layout) for a small random SMPL-format body."""
    generator = torch.Generator().manual_seed(seed)
    weights = torch.rand(vertices, 24, generator=generator)
    regressor = torch.rand(24, vertices, generator=generator)
    return {
        "shapedirs": 0.01 * torch.randn(vertices, 3, 10, generator=generator),
        "faces_tensor": torch.randint(0, vertices, (faces, 3), generator=generator),
        "v_template": 0.3 * torch.randn(vertices, 3, generator=generator),
        "J_regressor": regressor / regressor.sum(1, keepdim=True),
        "posedirs": 0.01 * torch.randn(207, vertices * 3, generator=generator),
        "parents": torch.tensor(SMPL_PARENTS),
        "lbs_weights": weights / weights.sum(1, keepdim=True),
    }


def renderer_state(smpl: dict[str, torch.Tensor], batch: int = 2) -> dict[str, dict]:
    """name -> (parameters, buffers, attributes) of the reference renderer subtree, batch-shaped as saved."""
    vertices, faces = smpl["v_template"].shape[0], smpl["faces_tensor"].shape[0]
    return {
        "renderer": ({}, {"shaped_smpl": smpl["v_template"].expand(batch, -1, -1).clone(),
                          "align_points": torch.zeros(batch, 1, 3),
                          "face_mask": torch.ones(faces, dtype=torch.bool),
                          "head_face_mask": torch.zeros(faces, dtype=torch.bool)}, {}),
        "renderer.aligned_SMPL": ({}, {"smpl_joint_regressor": torch.rand(30, vertices),
                                       "faces": smpl["faces_tensor"].clone()}, {}),
        "renderer.aligned_SMPL.model": (
            {name: torch.nn.Parameter(torch.zeros(batch, size))
             for name, size in (("betas", 10), ("global_orient", 3), ("body_pose", 69), ("transl", 3))},
            dict(smpl),
            {"faces": smpl["faces_tensor"].numpy().astype(np.uint32), "dtype": torch.float32, "batch_size": batch},
        ),
        "renderer.aligned_SMPL.model.vertex_joint_selector": ({}, {"extra_joints_idxs": torch.arange(21)}, {}),
    }


def generator_pickle(state: dict[str, torch.Tensor], parameter_names: set[str], source: str, init_kwargs: dict,
                     extra_modules: dict[str, tuple] | None = None, **attributes: Any) -> Call:
    """G_ema as the reference pickles it: a module tree of persistent and by-reference records.

    `state` is a flat state dict (dotted names); names in `parameter_names` become parameters, the rest
    buffers. `extra_modules` maps module paths to (parameters, buffers, attributes) added to the tree.
    """
    nodes: dict[str, dict] = {"": {"parameters": {}, "buffers": {}, "attributes": dict(attributes)}}

    def node(path: str) -> dict:
        if path not in nodes:
            parent = path.rsplit(".", 1)[0] if "." in path else ""
            node(parent)
            nodes[path] = {"parameters": {}, "buffers": {}, "attributes": {}}
        return nodes[path]

    for name, tensor in state.items():
        path, leaf = name.rsplit(".", 1) if "." in name else ("", name)
        kind = "parameters" if name in parameter_names else "buffers"
        value = tensor.detach().clone()
        value = torch.nn.Parameter(value, requires_grad=False) if kind == "parameters" else value
        node(path)[kind][leaf] = value
    for path, (parameters, buffers, extra_attributes) in (extra_modules or {}).items():
        target = node(path)
        target["parameters"].update(parameters)
        target["buffers"].update(buffers)
        target["attributes"].update(extra_attributes)
    if "decoder.net.0" in nodes:
        node("decoder.net.1")

    def emit(path: str) -> Any:
        prefix = f"{path}." if path else ""
        children = OrderedDict(
            (child[len(prefix):], emit(child)) for child in nodes
            if child.startswith(prefix) and child != path and "." not in child[len(prefix):]
        )
        entry = nodes[path]
        body = module_state(entry["parameters"], entry["buffers"], children, **entry["attributes"])
        if path in REFERENCE_CLASSES:
            return reference_module(REFERENCE_CLASSES[path], body)
        class_name = "TriPlaneGenerator" if not path else path.rsplit(".", 1)[-1].title().replace("_", "") + "Layer"
        return persistent_module(class_name, source, body, init_kwargs if not path else {})

    return emit("")


def tiny_init_kwargs(config) -> dict:
    """G init_kwargs as the reference train.py writes them, for a GeneratorConfig such as preset('tiny')."""
    rendering = config.rendering
    return {
        "z_dim": config.z_dim, "w_dim": config.w_dim, "c_dim": config.c_dim, "img_resolution": config.img_resolution,
        "img_channels": config.img_channels, "mapping_kwargs": {"num_layers": config.mapping_layers},
        "rendering_kwargs": {
            "image_resolution": config.img_resolution, "disparity_space_sampling": False, "clamp_mode": "softplus",
            "superresolution_module": "training.superresolution.SuperresolutionHybrid8XDC",
            "c_gen_conditioning_zero": False, "gpc_reg_prob": 0.5, "decoder_activation": rendering.decoder_activation,
            "use_torgb_raw": True, "use_background": True, "triplane_depth": config.triplane_depth,
            "c_scale": config.c_scale, "superresolution_noise_mode": config.sr_noise_mode, "density_reg": 0.25,
            "density_reg_p_dist": 0.004, "reg_type": "l1", "decoder_lr_mul": config.decoder_lr_multiplier,
            "sr_antialias": config.sr_antialias, "depth_resolution": rendering.depth_resolution,
            "depth_resolution_importance": rendering.depth_resolution_importance, "ray_start": rendering.ray_start,
            "ray_end": rendering.ray_end, "box_warp": rendering.box_warp, "density_noise": 0.0,
        },
        "sr_num_fp16_res": 4, "sr_kwargs": {"channel_base": config.channel_base, "channel_max": config.channel_max,
                                            "fused_modconv_default": "inference_only"},
        "batch_size": 2, "explicitly_symmetry": True, "thickness": config.thickness,
        "channel_base": config.channel_base, "channel_max": config.channel_max,
        "fused_modconv_default": "inference_only", "num_fp16_res": 0, "conv_clamp": None,
    }
