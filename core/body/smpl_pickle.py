"""Read SMPL model files (.pkl as users download them, or .npz) without chumpy and without running code.

Real SMPL pickles were written with Python 2 and hold chumpy `Ch` objects whose pickled state keeps the
plain array (under `x`, or a cached `r`). chumpy does not import on Python 3.11 with numpy 2, so a
restricted unpickler stands in: chumpy classes become inert placeholders that are turned into arrays,
scipy sparse matrices are rebuilt from their parts, numpy's array reconstruction is allowed, and every
other global is refused with a message that names it.
"""
from __future__ import annotations

import codecs
import collections
import copyreg
import io
import pickle
import zipfile
from pathlib import Path

import numpy as np
import scipy.sparse

from core.numpy_files import read_npz

WHERE_TO_PUT_IT = (
    "Download SMPL (https://smpl.is.tue.mpg.de, 'SMPL for Python'), and pass the path of SMPL_NEUTRAL.pkl "
    "(or basicmodel_neutral_lbs_10_207_0_v1.1.0.pkl, renamed) to load_body_model(smpl_path=...), e.g. "
    "checkpoints/user/smpl/SMPL_NEUTRAL.pkl. Without a path the shipped stand-in body is used."
)


class BodyModelFileError(RuntimeError):
    """A body-model file is missing, unreadable or not in SMPL format; the message names the file and the fix."""


class _ChumpyPlaceholder:
    """Inert stand-in for any chumpy class: keeps the pickled state so the array can be read out later."""

    chumpy_class = "chumpy.ch.Ch"

    def __setstate__(self, state):
        self.state = state


class _SparsePlaceholder:
    """Inert stand-in for a scipy sparse matrix: keeps the pickled state, rebuilt with scipy afterwards."""

    sparse_format = "csc"

    def __setstate__(self, state):
        self.state = state


def _placeholder_class(base: type, attribute: str, value: str) -> type:
    """A placeholder subclass that remembers which original class it replaces."""
    return type(base.__name__, (base,), {attribute: value})


def _numpy_global(module: str, name: str):
    """numpy's reconstruction helpers under their numpy 2 names (old pickles say numpy.core)."""
    # lazy: numpy 1.26 (requirements.txt allows it) has no numpy._core.numeric, so only old pickles may fail there
    import numpy._core.multiarray as multiarray
    import numpy._core.numeric as numeric

    allowed = {
        ("multiarray", "_reconstruct"): multiarray._reconstruct,
        ("multiarray", "scalar"): multiarray.scalar,
        ("numeric", "_frombuffer"): numeric._frombuffer,
    }
    if module == "numpy" and name in ("ndarray", "dtype"):
        return getattr(np, name)
    if module.startswith("numpy.") and module.split(".")[-2] in ("core", "_core"):
        found = allowed.get((module.split(".")[-1], name))
        if found is not None:
            return found
    if module == "numpy.dtypes" and name.endswith("DType"):
        return getattr(np.dtypes, name)
    return None


_SAFE_BUILTINS = {"object": object, "set": set, "frozenset": frozenset, "list": list, "dict": dict,
                  "tuple": tuple, "complex": complex, "bytearray": bytearray, "slice": slice}


class RestrictedSmplUnpickler(pickle.Unpickler):
    """Unpickler that only builds arrays, sparse matrices, plain containers and chumpy placeholders."""

    def __init__(self, stream, source: str):
        super().__init__(stream, encoding="latin1")
        self.source = source

    def find_class(self, module: str, name: str):
        if module == "chumpy" or module.startswith("chumpy."):
            return _placeholder_class(_ChumpyPlaceholder, "chumpy_class", f"{module}.{name}")
        if module.startswith("scipy.sparse") and name in ("csc_matrix", "csr_matrix", "coo_matrix"):
            return _placeholder_class(_SparsePlaceholder, "sparse_format", name[:3])
        if module in ("copy_reg", "copyreg") and name in ("_reconstructor", "__newobj__"):
            return getattr(copyreg, name)
        if module in ("__builtin__", "builtins") and name in _SAFE_BUILTINS:
            return _SAFE_BUILTINS[name]
        if module == "_codecs" and name == "encode":  # Python 3 writes bytes this way at protocols < 3
            return codecs.encode
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        found = _numpy_global(module, name)
        if found is not None:
            return found
        raise BodyModelFileError(
            f"{self.source}: refusing to load the global '{module}.{name}': an SMPL model file holds only "
            "arrays, so this file is not one (or it was tampered with). Use the original file from the SMPL site."
        )


def _to_plain(value, source: str, key: str):
    """Replace chumpy and sparse placeholders (also nested in lists/dicts) by numpy arrays and scipy matrices."""
    if isinstance(value, _ChumpyPlaceholder):
        state = value.state if isinstance(getattr(value, "state", None), dict) else {}
        for field in ("x", "r", "_x"):
            if field in state and state[field] is not None:
                return np.asarray(_to_plain(state[field], source, key))
        raise BodyModelFileError(
            f"{source}: '{key}' is a {value.chumpy_class} expression without a stored array "
            f"(state fields: {sorted(state)}); re-export the model with plain arrays."
        )
    if isinstance(value, _SparsePlaceholder):
        state = value.state
        shape = tuple(state.get("_shape", state.get("shape")))
        matrix_class = getattr(scipy.sparse, f"{value.sparse_format}_matrix")
        if value.sparse_format == "coo":
            return matrix_class((state["data"], (state["row"], state["col"])), shape=shape)
        return matrix_class((state["data"], state["indices"], state["indptr"]), shape=shape)
    if isinstance(value, dict):
        return {k: _to_plain(v, source, f"{key}.{k}" if key else str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_to_plain(v, source, key) for v in value)
    return value


REQUIRED_KEYS = ("v_template", "f", "weights", "J_regressor", "shapedirs", "posedirs", "kintree_table")


def read_smpl_file(path: str | Path) -> dict:
    """Arrays of an SMPL-format model file (.pkl or .npz); chumpy objects come back as numpy arrays."""
    path = Path(path)
    if not path.is_file():
        raise BodyModelFileError(f"{path}: body model file not found. {WHERE_TO_PUT_IT}")
    raw = path.read_bytes()
    try:
        if zipfile.is_zipfile(io.BytesIO(raw)):
            data = read_npz(io.BytesIO(raw))
        else:
            data = _to_plain(RestrictedSmplUnpickler(io.BytesIO(raw), str(path)).load(), str(path), "")
    except BodyModelFileError:
        raise
    except Exception as error:  # truncated or foreign files fail in many ways; all get the same advice
        raise BodyModelFileError(
            f"{path}: cannot read this body model file ({type(error).__name__}: {error}). {WHERE_TO_PUT_IT}"
        ) from error
    if not isinstance(data, dict):
        raise BodyModelFileError(f"{path}: expected a dictionary of SMPL arrays, found {type(data).__name__}.")
    missing = [key for key in REQUIRED_KEYS if key not in data]
    if missing:
        raise BodyModelFileError(f"{path}: not an SMPL model file, missing {missing}. {WHERE_TO_PUT_IT}")
    return data
