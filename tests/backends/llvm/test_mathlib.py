"""float32 exp / exp2 of mathlib.py over dense sweeps of their whole range, against float64 numpy.

Normal results must be within rtol 1e-6, denormal results within two denormal steps (2**-148: the
half step of rounding plus 1e-7 of 2**-126), with the edges exact: overflow to inf, underflow to 0, NaN in -> NaN out, exp(0) = 1, 2**k exact.
"""

from __future__ import annotations

import numpy as np
import pytest
from loopbuild import V, buf, c, call, ld, loop, program, store
from tensorc.backends.llvm.backend import BACKEND

TINY = 2.0**-126  # below it float32 results are denormal
ATOL = 2.0**-148  # two denormal steps
EDGES = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45, 1e-30, -1e-30, 0.5, -0.5]


def run_unary(op: str, x: np.ndarray, nonpos: bool = False) -> np.ndarray:
    """out[i] = op(x[i]) in a vectorised loop; `nonpos`: op(min(x[i], 0)), an argument the
    renderer proves <= 0 (backends/llvm/signs.py), so it takes the variant without overflow."""
    i = V("i")
    arg = call("min", ld("x", [i]), c(0.0)) if nonpos else ld("x", [i])
    prog = program(f"sweep_{op}", [buf("x", "float32", ("N",))],
                   [buf("out", "float32", ("N",), "output")], ["N"],
                   [loop("i", 0, V("N"), [store("out", [i], call(op, arg))], kind="vector")])
    assert (f"tc.{op}_nonpos.f32" in BACKEND.render(prog)) == nonpos
    out = np.empty_like(x)
    BACKEND.compile(prog)({"x": x, "out": out}, {"N": x.size})
    return out


def check(got: np.ndarray, ref: np.ndarray, rtol: float = 1e-6) -> None:
    normal = ~(np.abs(ref) < TINY)
    np.testing.assert_allclose(got[normal], ref[normal], rtol=rtol)
    np.testing.assert_allclose(got[~normal], ref[~normal], rtol=0, atol=ATOL)


def f32(values) -> np.ndarray:
    return np.asarray(values, dtype=np.float64).astype(np.float32)


@pytest.mark.parametrize("op, lo, hi, edges", [
    ("exp", -105.0, 90.0, [-87.33654, -87.33655, -103.27893, -103.97208, -104.0, 88.72283,
                           88.72284, 89.0, 0.34657359, -0.34657359, 1.03972077, 2.0]),
    ("exp2", -153.0, 130.0, [-126.0, -126.5, -149.0, -149.5, -150.0, -152.0, 127.0, 127.5,
                             127.99999, 128.0, 129.0, 1.5, -1.5, 0.49999997]),
])
def test_exp_dense_sweep(op, lo, hi, edges):
    x = f32(np.concatenate([np.linspace(lo, hi, 1_000_003), np.arange(lo, hi, 0.5),
                            np.linspace(-1, 1, 100_001), edges, EDGES]))
    got = run_unary(op, x)
    with np.errstate(over="ignore"):
        ref = (np.exp if op == "exp" else np.exp2)(x.astype(np.float64))
        ref32 = ref.astype(np.float32)
    assert np.array_equal(np.isnan(got), np.isnan(ref))
    assert np.array_equal(got[np.isinf(ref32)], ref32[np.isinf(ref32)])
    fin = np.isfinite(ref32)
    check(got[fin], ref[fin])


@pytest.mark.parametrize("op, lo, edges", [
    ("exp", -105.0, [-87.33654, -87.33655, -103.27893, -103.97208, -104.0, -104.5, -0.34657359]),
    ("exp2", -153.0, [-126.0, -126.5, -149.0, -149.5, -150.0, -151.5, -152.0, -152.5, -0.5, -1.5]),
])
def test_exp_nonpositive_variant_sweep(op, lo, edges):
    """The variants for arguments <= 0 (one-multiply 2**n scale, no overflow clamp): the same
    accuracy as the general functions over the whole nonpositive range, to 0 and into denormals."""
    x = f32(np.concatenate([np.linspace(lo, 0, 1_000_003), np.arange(lo, 0, 0.5),
                            np.linspace(-1, 0, 100_001), edges, [-1e30, -np.inf, np.nan, -0.0,
                                                                 0.0, -1e-45, -1e-30]]))
    got = run_unary(op, x, nonpos=True)
    ref = (np.exp if op == "exp" else np.exp2)(x.astype(np.float64))
    assert np.array_equal(np.isnan(got), np.isnan(ref))
    zero = ref.astype(np.float32) == 0
    assert zero.sum() > 1000 and np.all(got[zero] == 0)
    fin = ~np.isnan(ref)
    check(got[fin], ref[fin])


def test_exact_values():
    ints = np.arange(-149, 128, dtype=np.float32)
    assert np.array_equal(run_unary("exp2", ints), np.exp2(ints.astype(np.float64)).astype(np.float32))
    assert run_unary("exp", f32([0.0, -0.0]))[0] == 1.0


@pytest.mark.parametrize("form", ["mul", "div", "neg_div", "invariant_mul"])
def test_exp_of_product_folds_to_exp2(form):
    """exp(u * v), exp(u / v), exp(-u / v), exp(-g * v) (g a scalar parameter) in a fast loop run
    as exp2 with log2(e) folded into one factor: within the product's own rounding
    (|x| * 2**-24 relative) plus 1e-6 of exp(x)."""
    rng = np.random.default_rng(3)
    v = rng.uniform(0.125, 8, 200_000)
    target = rng.uniform(-110, 95, v.size)  # the exponents, from underflow to overflow
    u = target / v if form in ("mul", "invariant_mul") else np.abs(target) * v
    g = np.float32(-1.0)  # exp(-g * (u * v)) with g = -1: the invariant factor comes first
    u = f32(np.concatenate([u, [0.0, 3.0, np.inf, -np.inf, np.nan]]))
    v = f32(np.concatenate([v, [1.0, 7.5, 2.0, 2.0, 2.0]]))
    if form == "div":
        u[: target.size] *= np.sign(target)
    i = V("i")
    a, b = ld("u", [i]), ld("v", [i])
    arg = {"mul": call("mul", a, b), "div": call("div", a, b),
           "neg_div": call("div", call("neg", a), b),
           "invariant_mul": call("mul", call("neg", V("g", "float32")), call("mul", a, b))}[form]
    ins = [buf("u", "float32", ("N",)), buf("v", "float32", ("N",)), buf("g", "float32", (), "scalar")]
    prog = program(f"fold_{form}", ins,
                   [buf("out", "float32", ("N",), "output")], ["N"],
                   [loop("i", 0, V("N"), [store("out", [i], call("exp", arg))], kind="vector")])
    out = np.empty_like(u)
    BACKEND.compile(prog)({"u": u, "v": v, "g": g, "out": out}, {"N": u.size})
    u64, v64 = u.astype(np.float64), v.astype(np.float64)
    with np.errstate(all="ignore"):
        uv = (u * v).astype(np.float64)  # rounded to float32 first, as the kernel does
        x = {"mul": u64 * v64, "div": u64 / v64, "neg_div": -u64 / v64, "invariant_mul": uv}[form]
        ref = np.exp(x)
        ref32 = ref.astype(np.float32)
    assert np.array_equal(np.isnan(out), np.isnan(ref))
    assert np.array_equal(out[np.isinf(ref32)], ref32[np.isinf(ref32)])
    fin = np.isfinite(ref32) & (ref > TINY)
    rtol = 1e-6 + 3 * np.abs(x[fin]) * 2.0**-24
    assert np.all(np.abs(out[fin] - ref[fin]) <= rtol * ref[fin])
    tiny = np.isfinite(x) & (ref <= TINY)
    assert tiny.sum() > 100  # the sweep reaches the denormal results
    err = np.abs(out[tiny] - ref[tiny])
    assert np.all(err <= ATOL + 3 * np.abs(x[tiny]) * 2.0**-24 * ref[tiny])
    zero = ref32 == 0
    assert np.array_equal(out[zero], ref32[zero])
