"""The table of workload cases: every def of every examples/*.tc file, its inputs, its reference.

A case names its parameters declaratively (`F("N", "D")` a float32 tensor, `Idx(("L",), "E")` an
int32 tensor of indices into a dimension of size E, `Scalar(0.5)` a Python scalar), and
test_workloads.py instantiates them at several size profiles. Sizes 1 and 7 and distinct small
primes (so a transposed or swapped dimension cannot go unnoticed).
"""

from __future__ import annotations

import importlib.util
import pathlib
import sys
from dataclasses import dataclass, field

import numpy as np

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
EXAMPLES = ROOT / "examples"


def _load_sibling(name: str):
    """Import a module of this folder by path (no package, no clash with other test folders)."""
    spec = importlib.util.spec_from_file_location(
        f"tensorc_examples_tests_{name}", HERE / f"{name}.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


ref = _load_sibling("references")


# --- parameter kinds ---------------------------------------------------------------------------
@dataclass(frozen=True)
class F:
    """A float32 tensor with these size symbols; values standard normal."""

    dims: tuple[str, ...]

    def __init__(self, *dims: str):
        object.__setattr__(self, "dims", dims)

    def make(self, rng: np.random.Generator, sizes: dict[str, int]):
        return rng.standard_normal([sizes[d] for d in self.dims]).astype(np.float32)


@dataclass(frozen=True)
class Idx:
    """An int32 tensor with these size symbols; values uniform in [0, sizes[bound])."""

    dims: tuple[str, ...]
    bound: str

    def make(self, rng: np.random.Generator, sizes: dict[str, int]):
        shape = [sizes[d] for d in self.dims]
        return rng.integers(0, sizes[self.bound], size=shape).astype(np.int32)


@dataclass(frozen=True)
class Scalar:
    """A Python scalar argument (float for `float` params, int for integer params)."""

    value: float | int

    def make(self, rng: np.random.Generator, sizes: dict[str, int]):
        return self.value


@dataclass
class Case:
    file: str  # examples/<file>
    name: str  # the def
    params: list
    at_least: dict[str, int] = field(default_factory=dict)  # symbol -> minimum size
    cap: int | None = None  # every symbol at most this (keeps dense oracles small)
    primes: dict[str, int] = field(default_factory=dict)  # overrides of the "primes" profile
    check: str = "allclose"  # "allclose" | "knn" (indices compared through their distances)

    @property
    def id(self) -> str:
        return f"{self.file.removesuffix('.tc')}::{self.name}"

    def reference(self):
        return getattr(ref, self.name)


PRIMES = {
    "N": 13, "M": 11, "D": 3, "E": 5, "B": 2, "H": 3,
    "I": 5, "J": 3, "K": 7, "L": 11, "R": 2, "S": 3, "P": 2,
    "X1": 3, "X2": 5, "X3": 2, "X4": 3, "X5": 2, "Y1": 2, "Y2": 3, "Y3": 5,
    "C": 3, "G": 2, "W": 9, "KH": 3, "KW": 2,
}  # fmt: skip

PROFILES = ("ones", "sevens", "primes")


def sizes_for(case: Case, profile: str) -> dict[str, int]:
    symbols = {d for p in case.params if isinstance(p, (F, Idx)) for d in p.dims}
    symbols |= {p.bound for p in case.params if isinstance(p, Idx)}
    out = {}
    for s in symbols:
        n = {"ones": 1, "sevens": 7}.get(profile) or case.primes.get(s, PRIMES.get(s, 5))
        if case.cap is not None:
            n = min(n, case.cap)
        out[s] = max(n, case.at_least.get(s, 1))
    return out


def make_inputs(case: Case, profile: str, seed: int = 0):
    rng = np.random.default_rng(seed)
    sizes = sizes_for(case, profile)
    return [p.make(rng, sizes) for p in case.params]


def reference_outputs(case: Case, args) -> tuple:
    """The reference on float64 copies of the float inputs; always a tuple."""
    conv = [
        a.astype(np.float64) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a
        for a in args
    ]
    out = case.reference()(*conv)
    return out if isinstance(out, tuple) else (out,)


ATT = [F("B", "H", "N", "D"), F("B", "H", "M", "D"), F("B", "H", "M", "E")]
SELF_ATT = [F("B", "H", "N", "D"), F("B", "H", "N", "D"), F("B", "H", "N", "E")]
SMALL_ATT = {"B": 2, "H": 2}

CASES: list[Case] = [
    Case("w01_gauss_ksum.tc", "gauss_ksum", [F("N", "D"), F("M", "D"), F("M", "E"), Scalar(1.5)]),
    Case("w02_nn.tc", "nn", [F("N", "D"), F("M", "D")], check="knn"),
    Case("w02_nn.tc", "knn", [F("N", "D"), F("M", "D")], at_least={"M": 5}, check="knn"),
    Case("w02_nn.tc", "knn_dist", [F("N", "D"), F("M", "D")], at_least={"M": 5}),
    Case("w03_softmin.tc", "softmin", [F("N", "D"), F("M", "D"), F("M"), Scalar(0.5)]),
    Case("w04_attention.tc", "attention", [*ATT, Scalar(0.4)], primes=SMALL_ATT),
    Case("w04_attention.tc", "attention_full", [*ATT, Scalar(0.4)], primes=SMALL_ATT),
    Case("w05_window_attention.tc", "window_attention", [*SELF_ATT, Scalar(0.4), Scalar(2)],
         primes=SMALL_ATT),
    Case("w05_window_attention.tc", "causal_window_attention",
         [*SELF_ATT, Scalar(0.4), Scalar(2)], primes=SMALL_ATT),
    Case("w06_linear_attention.tc", "linear_attention", ATT, primes=SMALL_ATT),
    Case("w06_linear_attention.tc", "linear_attention_relu", ATT, primes=SMALL_ATT),
    Case("w07_gram.tc", "gram", [F("N", "D")]),
    Case("w07_gram.tc", "rbf_gram", [F("N", "D"), Scalar(0.3)]),
    Case("w08_mmd.tc", "mmd2", [F("N", "D"), F("M", "D"), Scalar(0.3)]),
    Case("w09_tensor_networks.tc", "tucker_core", [F("I", "J", "K"), F("I", "R"), F("J", "S"),
         F("K", "P")], cap=5),
    Case("w09_tensor_networks.tc", "mps_overlap",
         [F("P", "X1"), F("X1", "P", "X2"), F("X2", "P", "X3"), F("X3", "P"),
          F("P", "Y1"), F("Y1", "P", "Y2"), F("Y2", "P", "Y3"), F("Y3", "P")], cap=3),
    Case("w09_tensor_networks.tc", "mps_norm6",
         [F("P", "X1"), F("X1", "P", "X2"), F("X2", "P", "X3"), F("X3", "P", "X4"),
          F("X4", "P", "X5"), F("X5", "P")], cap=2),
    Case("w09_tensor_networks.tc", "batched_bilinear", [F("B", "I", "J"), F("J", "K"),
         F("B", "K", "L")]),
    Case("w10_tc_classics.tc", "conv_strided", [F("N", "C", "H", "W"), F("M", "C", "KH", "KW")],
         primes={"N": 2, "M": 3, "H": 11, "W": 9}, cap=7),
    Case("w10_tc_classics.tc", "maxpool", [F("B", "C", "H", "W")], at_least={"H": 2, "W": 2},
         primes={"H": 11, "W": 9}),
    Case("w10_tc_classics.tc", "softmax", [F("N", "D")]),
    Case("w10_tc_classics.tc", "fcrelu", [F("B", "M"), F("N", "M"), F("N")]),
    Case("w10_tc_classics.tc", "group_norm", [F("N", "G", "D", "H", "W"), F("G", "D"),
         F("G", "D")], cap=5, primes={"N": 2, "G": 3, "D": 2, "H": 5, "W": 3}),
    Case("w10_tc_classics.tc", "gather", [F("E", "W"), Idx(("L",), "E")]),
]  # fmt: skip
