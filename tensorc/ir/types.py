"""Scalar types of the language and numpy-style promotion.

A dtype is its canonical name (a plain `str`): "float32", "int64", "bool", ... so IR nodes stay
hashable and print the same everywhere. `DTYPES` is the one table every stage reads.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class DTypeInfo:
    name: str
    kind: str  # "f" float, "i" signed int, "u" unsigned int, "b" bool
    bits: int
    numpy: str  # numpy dtype name; bfloat16 is stored as uint16 bits on the numpy side


DTYPES: dict[str, DTypeInfo] = {
    d.name: d
    for d in (
        DTypeInfo("bool", "b", 8, "bool"),
        DTypeInfo("int8", "i", 8, "int8"),
        DTypeInfo("int16", "i", 16, "int16"),
        DTypeInfo("int32", "i", 32, "int32"),
        DTypeInfo("int64", "i", 64, "int64"),
        DTypeInfo("uint8", "u", 8, "uint8"),
        DTypeInfo("uint16", "u", 16, "uint16"),
        DTypeInfo("uint32", "u", 32, "uint32"),
        DTypeInfo("uint64", "u", 64, "uint64"),
        DTypeInfo("float16", "f", 16, "float16"),
        DTypeInfo("bfloat16", "f", 16, "uint16"),
        DTypeInfo("float32", "f", 32, "float32"),
        DTypeInfo("float64", "f", 64, "float64"),
    )
}

# Spellings accepted in source; TC's `float` is float32 and `half` is float16.
ALIASES: dict[str, str] = {
    "float": "float32",
    "int": "int32",  # C's int, as TC programs write it
    "double": "float64",
    "half": "float16",
    **{name: name for name in DTYPES},
}

INDEX = "int64"  # dtype of every index variable and of argmin/argmax results


def is_float(dtype: str) -> bool:
    return DTYPES[dtype].kind == "f"


def is_int(dtype: str) -> bool:
    return DTYPES[dtype].kind in "iu"


def compute_dtype(dtype: str) -> str:
    """The dtype arithmetic and accumulation run in: fp16/bf16 compute in fp32."""
    return "float32" if dtype in ("float16", "bfloat16") else dtype


def promote(a: str, b: str) -> str:
    """numpy's promotion of two array dtypes (bfloat16 promotes like float16)."""
    if a == b:
        return a
    if "bfloat16" in (a, b):
        other = b if a == "bfloat16" else a
        if other == "float16":
            return "float32"
        return "bfloat16" if DTYPES[other].kind in "biu" and DTYPES[other].bits <= 8 else promote(
            "float16", other
        )
    return np.promote_types(DTYPES[a].numpy, DTYPES[b].numpy).name


def to_numpy(dtype: str) -> np.dtype:
    return np.dtype(DTYPES[dtype].numpy)


def from_numpy(dtype: np.dtype) -> str:
    name = np.dtype(dtype).name
    if name not in DTYPES:
        raise KeyError(name)
    return name
