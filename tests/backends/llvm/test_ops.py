"""Every op of OPS on every dtype it applies to, against the numpy meaning in ops.py."""

from __future__ import annotations

import numpy as np
import pytest
from loopbuild import V, buf, call, cast, ld, loop, program, store, vector_lanes
from tensorc.backends.llvm.backend import BACKEND
from tensorc.backends.llvm.build import optimized_ir

from tensorc.ir.ops import OPS, result_dtype
from tensorc.ir.types import DTYPES, to_numpy

FLOATS = ("float16", "bfloat16", "float32", "float64")
INTS = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
MATH = ("exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sqrt", "rsqrt", "cbrt", "sin",
        "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "erf", "sigmoid",
        "softplus", "floor", "ceil", "round", "trunc")
N = 257


def bf16_bits(x: np.ndarray) -> np.ndarray:
    """float32 -> bfloat16 bits (round to nearest even), numpy side."""
    b = np.asarray(x, np.float32).view(np.uint32).astype(np.uint64)
    b = ((b + 0x7FFF + ((b >> 16) & 1)) >> 16).astype(np.uint16)
    return np.where(np.isnan(x), np.uint16(0x7FC0), b)


def bf16_value(bits: np.ndarray) -> np.ndarray:
    return (bits.astype(np.uint32) << 16).view(np.float32)


def to_mem(values: np.ndarray, dtype: str) -> np.ndarray:
    with np.errstate(over="ignore"):  # inf edge values narrowed to float16 on purpose
        return bf16_bits(values) if dtype == "bfloat16" else values.astype(to_numpy(dtype))


def from_mem(arr: np.ndarray, dtype: str) -> np.ndarray:
    return bf16_value(arr) if dtype == "bfloat16" else arr


def inputs(op: str, dtype: str, rng) -> list[np.ndarray]:
    """Random arguments incl. edge values, as float64/int values (before storage)."""
    info = DTYPES[dtype]
    arity = OPS[op].arity
    if info.kind == "b":
        return [rng.integers(0, 2, N).astype(bool) for _ in range(arity)]
    if info.kind in "iu":
        lo, hi = np.iinfo(to_numpy(dtype)).min, np.iinfo(to_numpy(dtype)).max
        npdt = to_numpy(dtype)
        vals = [rng.integers(max(lo, -100), min(hi, 100) + 1, N).astype(npdt) for _ in range(arity)]
        if op == "pow":
            vals[1] = rng.integers(0, 5, N).astype(npdt)
            vals[0] = rng.integers(max(lo, -6), 7, N).astype(npdt)
        else:
            edges = np.array([0, 1, lo, hi] + ([-1] if lo < 0 else []), dtype=npdt)
            for v in vals:
                v[: len(edges)] = edges
            if arity == 2:
                more = np.array([0, -1 if lo < 0 else 0, 0, 1, lo, hi], dtype=npdt)
                vals[1][len(edges): len(edges) + 6] = more
        return [v.astype(to_numpy(dtype)) for v in vals]
    vals = [rng.standard_normal(N) * 3 for _ in range(arity)]
    if op in ("log", "log2", "log10", "sqrt", "rsqrt"):
        vals[0] = np.exp(rng.uniform(-20, 20, N))
    if op in ("asin", "acos"):
        vals[0] = rng.uniform(-1, 1, N)
    if op == "log1p":
        vals[0] = np.exp(rng.uniform(-20, 3, N)) - 0.5
    if op == "pow":
        vals[0] = np.abs(vals[0])
    if op == "clamp":
        vals[1], vals[2] = -np.abs(vals[1]), np.abs(vals[2])
    edges = [0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 0.5, -2.5, 2.5]
    if op not in ("pow",):
        vals[0][: len(edges)] = edges
    if arity >= 2 and op not in ("clamp",):
        vals[1][len(edges): len(edges) + 4] = [0.0, -0.0, np.nan, np.inf]
    if dtype in ("float16", "bfloat16"):
        vals = [np.clip(v, -60000, 60000) if op not in MATH else v for v in vals]
    return vals


def applicable(op: str, dtype: str) -> bool:
    kind = DTYPES[dtype].kind
    if kind == "b":
        return op in ("and", "or", "not", "select", "lt", "le", "gt", "ge", "eq", "ne", "max",
                      "min", "add", "mul")
    if kind in "iu" and op in ("fma",):
        return False
    return op != "cast"


def elementwise_program(ops: list[str], dtype: str):
    """One kernel computing out_k[i] = op_k(a_k0[i], a_k1[i], ...) for every op."""
    ins, outs, body = [], [], []
    i = V("i")
    for k, op in enumerate(ops):
        ar = OPS[op].arity
        arg_dts = ("bool", dtype, dtype) if op == "select" else (dtype,) * ar
        args = []
        for a in range(ar):
            ins.append(buf(f"a{k}_{a}", arg_dts[a], ("N",)))
            args.append(ld(f"a{k}_{a}", [i], arg_dts[a]))
        out = result_dtype(op, arg_dts)
        outs.append(buf(f"o{k}", out, ("N",), "output"))
        body.append(store(f"o{k}", [i], call(op, *args, dtype=out)))
    return program(f"ops_{dtype}", ins, outs, ["N"], [loop("i", 0, V("N"), body, kind="vector")])


def tolerance(op: str, dtype: str, out: str) -> dict:
    if op == "fma" and out in ("float32", "float64"):  # one rounding instead of numpy's two
        return dict(rtol=1e-6, atol=1e-5) if out == "float32" else dict(rtol=1e-13, atol=1e-13)
    if out in ("float16",):
        return dict(rtol=2e-3, atol=1e-3)
    if out == "bfloat16":
        return dict(rtol=1.6e-2, atol=1e-2)
    if out == "float32":
        loose = op in ("pow", "sinh", "cosh", "tan", "rsqrt", "expm1", "softplus", "sigmoid")
        return dict(rtol=2e-6 if loose else 1e-6, atol=1e-30)
    if out == "float64":
        return dict(rtol=1e-13, atol=1e-300)
    return {}


@pytest.mark.parametrize("dtype", [*FLOATS, *INTS, "bool"])
def test_every_op(dtype):
    rng = np.random.default_rng(abs(hash(dtype)) % 2**32)
    ops = [op for op in OPS if applicable(op, dtype)]
    prog = elementwise_program(ops, dtype)
    exe = BACKEND.compile(prog, {"threads": 2})
    buffers, refs = {}, {}
    for k, op in enumerate(ops):
        arg_dts = ("bool", dtype, dtype) if op == "select" else (dtype,) * OPS[op].arity
        vals = inputs(op, dtype, rng)
        if op == "select":
            vals[0] = rng.integers(0, 2, N).astype(bool)
        mems = [to_mem(v, d) for v, d in zip(vals, arg_dts)]
        for a, m in enumerate(mems):
            buffers[f"a{k}_{a}"] = m
        out = result_dtype(op, arg_dts)
        buffers[f"o{k}"] = np.zeros(N, to_numpy(out))
        # the reference: numpy on the stored values, widened for the narrow floats
        stored = [from_mem(m, d) for m, d in zip(mems, arg_dts)]
        if dtype in ("float16", "bfloat16") or DTYPES[out].kind == "f" and dtype in INTS:
            stored = [s.astype(np.float64) if s.dtype != bool else s for s in stored]
        with np.errstate(all="ignore"):
            refs[k] = (op, out, np.asarray(OPS[op].numpy(*stored)))
    exe(buffers, {"N": N})
    for k, (op, out, ref) in refs.items():
        got = from_mem(buffers[f"o{k}"], out)
        if out in ("float16", "bfloat16"):
            ref = from_mem(to_mem(ref.astype(np.float32), out), out)
        if DTYPES[out].kind == "f":
            np.testing.assert_allclose(got.astype(np.float64), ref.astype(np.float64),
                                       equal_nan=True, err_msg=f"{op} on {dtype}",
                                       **tolerance(op, dtype, out))
        else:
            np.testing.assert_array_equal(got, ref.astype(got.dtype), err_msg=f"{op} on {dtype}")


@pytest.mark.parametrize("op", ["exp", "log", "tanh", "erf", "sigmoid", "softplus", "exp2"])
def test_float32_math_accuracy(op):
    """fp32 polynomials within rtol 1e-6 of float64 numpy over a wide range (incl. denormal
    results of exp)."""
    rng = np.random.default_rng(1)
    x = {"exp": rng.uniform(-103, 88.7, 20000), "exp2": rng.uniform(-149, 127.9, 20000),
         "log": np.exp(rng.uniform(-100, 88, 20000))}.get(op, rng.uniform(-30, 30, 20000))
    x = np.concatenate([x, [1e-45, 1e-40, 3.4e38]]) if op == "log" else x
    x = x.astype(np.float32)
    prog = elementwise_program([op], "float32")
    out = np.zeros_like(x)
    BACKEND.compile(prog)({"a0_0": x, "o0": out}, {"N": x.size})
    ref = OPS[op].numpy(x.astype(np.float64))
    tiny = np.abs(ref) < 1.2e-38  # denormal results carry absolute, not relative, accuracy
    np.testing.assert_allclose(out[~tiny], ref[~tiny], rtol=1e-6 if op in ("exp", "log", "exp2")
                               else 3e-7 * 4)
    np.testing.assert_allclose(out[tiny], ref[tiny], rtol=0, atol=3e-45)


def test_exp_loop_vectorises():
    """The polynomial exp/log vectorise at the host's width (8 lanes on AVX2, 16 on AVX-512)."""
    text = optimized_ir(BACKEND.render(elementwise_program(["exp", "log"], "float32")))
    assert vector_lanes(text) >= 4, "no vector of floats in the optimised IR"
    assert "call float @expf" not in text and "@llvm.exp.f32" not in text


CAST_DTYPES = ("bool", "int8", "uint8", "int32", "uint32", "int64", "uint64", "float16",
               "bfloat16", "float32", "float64")


@pytest.mark.parametrize("src", CAST_DTYPES)
def test_casts(src):
    rng = np.random.default_rng(7)
    if src == "bool":
        vals = rng.integers(0, 2, N).astype(bool)
    elif DTYPES[src].kind == "f":
        vals = np.round(rng.uniform(-0.0, 120, N) * 4) / 4
        vals[:4] = [0.0, -0.0, 0.75, 127.5]
    else:
        vals = rng.integers(0, 120, N)
    mem = to_mem(vals, src)
    stored = from_mem(mem, src)
    ins = [buf("x", src, ("N",))]
    outs = [buf(f"o_{d}", d, ("N",), "output") for d in CAST_DTYPES]
    body = [store(f"o_{d}", [V("i")], cast(ld("x", [V("i")], src), d)) for d in CAST_DTYPES]
    prog = program(f"cast_{src}", ins, outs, ["N"], [loop("i", 0, V("N"), body, kind="vector")])
    buffers = {"x": mem, **{f"o_{d}": np.zeros(N, to_numpy(d)) for d in CAST_DTYPES}}
    BACKEND.compile(prog)(buffers, {"N": N})
    for d in CAST_DTYPES:
        got = from_mem(buffers[f"o_{d}"], d)
        ref = stored.astype(np.float32).astype(np.float32) if d == "bfloat16" else \
            stored.astype(to_numpy(d))
        if d == "bfloat16":
            ref = from_mem(to_mem(ref, d), d)
        np.testing.assert_array_equal(got, ref, err_msg=f"{src} -> {d}")


def test_bf16_round_to_nearest_even_and_nan():
    vals = np.array([1.0, 1.00390625, 1.01171875, 1.0 + 2**-8 + 2**-20, -3.4e38, 3.39e38,
                     np.inf, np.nan, 1e-40], np.float32)
    prog = program("bf", [buf("x", "float32", ("N",))], [buf("y", "bfloat16", ("N",), "output")],
                   ["N"], [loop("i", 0, V("N"), [store("y", [V("i")], ld("x", [V("i")]))])])
    y = np.zeros(vals.size, np.uint16)
    BACKEND.compile(prog)({"x": vals, "y": y}, {"N": vals.size})
    np.testing.assert_array_equal(y[:-2], bf16_bits(vals)[:-2])
    assert np.isnan(bf16_value(y)[-2])
