"""Every LoopIR node kind, dtype and op through the Triton backend (TRITON_INTERPRET=1)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from triton_loops import C, Prog, V, add, assign, buf, call, local, loop, lt, mul, ploop, rd, run

from tensorc.errors import UnsupportedError
from tensorc.ir import loop_ir as L
from tensorc.ir.ops import OPS

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")
RNG = np.random.default_rng(1)
SIZES = (1, 7, 33)


def _unary_prog(dtype_in: str, dtype_out: str, fn) -> L.LoopProgram:
    P = Prog(buf("x", dtype_in, ["N"], "input"), buf("y", dtype_out, ["N"], "output"))
    i = V("i")
    return P.program(ploop("i", 0, V("N"), P.st("y", i, fn(P.ld("x", i)))))


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "int32", "int64"])
def test_elementwise_dtypes(dtype, n):
    prog = _unary_prog(
        dtype, dtype, lambda x: call("add", call("mul", x, C(3, dtype)), C(1, dtype))
    )
    x = (RNG.standard_normal(n) * 10).astype(dtype)
    out = run(prog, {"x": x}, {"N": n})["y"]
    ref = (x * np.asarray(3, dtype) + np.asarray(1, dtype)).astype(dtype)
    np.testing.assert_array_equal(out, ref)


@pytest.mark.parametrize("n", SIZES)
def test_bool_logic(n):
    P = Prog(
        buf("a", "bool", ["N"], "input"),
        buf("b", "bool", ["N"], "input"),
        buf("y", "bool", ["N"], "output"),
    )
    i = V("i")
    a, b = P.ld("a", i), P.ld("b", i)
    e = call("or", call("and", a, call("not", b)), call("eq", a, b))
    prog = P.program(ploop("i", 0, V("N"), P.st("y", i, e)))
    av, bv = RNG.random(n) < 0.5, RNG.random(n) < 0.5
    out = run(prog, {"a": av, "b": bv}, {"N": n})["y"]
    np.testing.assert_array_equal(out, (av & ~bv) | (av == bv))


FLOAT_OPS = [
    "exp",
    "exp2",
    "expm1",
    "log",
    "log2",
    "log10",
    "log1p",
    "sqrt",
    "rsqrt",
    "cbrt",
    "sin",
    "cos",
    "tan",
    "asin",
    "acos",
    "atan",
    "sinh",
    "cosh",
    "tanh",
    "erf",
    "sigmoid",
    "softplus",
    "floor",
    "ceil",
    "round",
    "trunc",
    "abs",
    "sign",
    "relu",
    "neg",
]


@pytest.mark.parametrize("op", FLOAT_OPS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_unary_float_ops(op, dtype):
    n = 33
    x = RNG.uniform(-0.95, 0.95, n)
    if op in ("log", "log2", "log10", "sqrt", "rsqrt"):
        x = np.abs(x) + 0.05
    x = np.concatenate([x, [0.5, -0.5, 1.5, 2.5, -2.5]]).astype(dtype)
    prog = _unary_prog(dtype, dtype, lambda v: call(op, v))
    out = run(prog, {"x": x}, {"N": len(x)})["y"]
    ref = OPS[op].numpy(x).astype(dtype)
    tol = 2e-6 if dtype == "float32" else 1e-12
    if op in ("atan", "asin", "acos"):
        tol = max(tol, 1e-7)
    np.testing.assert_allclose(out, ref, rtol=tol, atol=tol)


@pytest.mark.parametrize(
    "op",
    [
        "add",
        "sub",
        "mul",
        "div",
        "floordiv",
        "mod",
        "max",
        "min",
        "fmax",
        "fmin",
        "pow",
        "atan2",
        "lt",
        "le",
        "gt",
        "ge",
        "eq",
        "ne",
    ],
)
@pytest.mark.parametrize("dtype", ["float32", "int32", "int64"])
def test_binary_ops(op, dtype):
    if op in ("pow", "atan2") and dtype != "float32":
        pytest.skip("float-only here")
    P = Prog(
        buf("a", dtype, ["N"], "input"),
        buf("b", dtype, ["N"], "input"),
        buf(
            "y",
            "float64"
            if op in ("div", "atan2") and dtype != "float32"
            else ("bool" if OPS[op].result == "bool" else dtype),
            ["N"],
            "output",
        ),
    )
    i = V("i")
    e = call(op, P.ld("a", i), P.ld("b", i))
    prog = P.program(ploop("i", 0, V("N"), P.st("y", i, e)))
    n = 40
    if dtype == "float32":
        a = RNG.uniform(-5, 5, n).astype(dtype)
        b = RNG.uniform(0.5, 3, n).astype(dtype) * RNG.choice([-1, 1], n).astype(dtype)
        if op == "pow":
            a = np.abs(a) + 0.1
    else:
        a = RNG.integers(-20, 20, n).astype(dtype)
        b = RNG.integers(1, 7, n).astype(dtype) * RNG.choice([-1, 1], n).astype(dtype)
    out = run(prog, {"a": a, "b": b}, {"N": n})["y"]
    ref = OPS[op].numpy(a, b)
    np.testing.assert_allclose(out, ref.astype(out.dtype), rtol=2e-6, atol=2e-6)


def test_pow_constant_exponent_and_clamp_select():
    P = Prog(buf("x", "float32", ["N"], "input"), buf("y", "float32", ["N"], "output"))
    i = V("i")
    x = P.ld("x", i)
    e = call(
        "add",
        call("pow", x, C(3.0)),
        call("select", call("gt", x, C(0.0)), call("clamp", x, C(-0.5), C(0.5)), C(-7.0)),
    )
    prog = P.program(ploop("i", 0, V("N"), P.st("y", i, e)))
    xv = RNG.uniform(-2, 2, 17).astype(np.float32)
    out = run(prog, {"x": xv}, {"N": 17})["y"]
    ref = xv**3 + np.where(xv > 0, np.clip(xv, -0.5, 0.5), -7.0)
    np.testing.assert_allclose(out, ref, rtol=1e-6)


def test_casts_between_dtypes():
    P = Prog(
        buf("x", "float32", ["N"], "input"),
        buf("i32", "int32", ["N"], "output"),
        buf("b", "bool", ["N"], "output"),
        buf("h", "float16", ["N"], "output"),
        buf("d", "float64", ["N"], "output"),
    )
    i = V("i")
    x = P.ld("x", i)
    prog = P.program(
        ploop(
            "i",
            0,
            V("N"),
            P.st("i32", i, call("cast", x, dtype="int32")),
            P.st("b", i, call("cast", x, dtype="bool")),
            P.st("h", i, x),
            P.st("d", i, call("cast", x, dtype="float64")),
        )
    )
    xv = np.array([0.0, -2.7, 3.9, 1e-3, -0.0, 65504.0, 7.25], np.float32)
    out = run(prog, {"x": xv}, {"N": 7})
    np.testing.assert_array_equal(out["i32"], xv.astype(np.int32))
    np.testing.assert_array_equal(out["b"], xv.astype(bool))
    np.testing.assert_array_equal(out["h"], xv.astype(np.float16))
    np.testing.assert_array_equal(out["d"], xv.astype(np.float64))


@pytest.mark.parametrize("n", SIZES)
def test_if_else_masked_stores_and_locals(n):
    P = Prog(
        buf("x", "float32", ["N"], "input"),
        buf("y", "float32", ["N"], "output"),
        buf("z", "int64", ["N"], "output"),
    )
    i = V("i")
    x = P.ld("x", i)
    body = ploop(
        "i",
        0,
        V("N"),
        local("c", "int64", C(0)),
        L.If(
            call("gt", x, C(0.0)),
            (P.st("y", i, call("sqrt", x)), assign("c", C(1))),
            (P.st("y", i, call("neg", x)), L.If(lt(x, C(-1.0)), (assign("c", C(-1)),))),
        ),
        P.st("z", i, rd("c", "int64")),
    )
    xv = RNG.uniform(-3, 3, n).astype(np.float32)
    out = run(P.program(body), {"x": xv}, {"N": n})
    np.testing.assert_allclose(out["y"], np.where(xv > 0, np.sqrt(np.abs(xv)), -xv), rtol=1e-6)
    np.testing.assert_array_equal(out["z"], np.where(xv > 0, 1, np.where(xv < -1, -1, 0)))


@pytest.mark.parametrize("n", SIZES)
def test_masks_from_loop_variables(n):
    """Uniform conditions over serial loop variables (`j <= 2`, the causal mask of W4's gradient)
    meet per-lane ones (`x(i) > 0`, maxpool's gradient): under the interpreter a splatted 0-d bool
    was int64 and the load under that mask raised 'mask has unsupported dtype'."""
    P = Prog(buf("x", "float32", ["N"], "input"), buf("y", "float32", ["N"], "output"))
    i, j = V("i"), V("j")
    x = P.ld("x", i)
    uniform, mixed = call("le", j, C(2)), call("and", call("ge", j, C(1)), call("gt", x, C(0.0)))
    seen = call("or", rd("seen", "bool"), uniform)  # True once j in 1:3 meets x(i) > 0
    body = ploop(
        "i",
        0,
        V("N"),
        local("acc", "float32", C(0.0)),
        local("seen", "bool", call("lt", C(1), C(0))),
        loop(
            "j",
            0,
            4,
            L.If(uniform, (assign("acc", add(rd("acc", "float32"), x)),)),
            L.If(mixed, (assign("acc", add(rd("acc", "float32"), x)), assign("seen", seen))),
        ),
        L.If(rd("seen", "bool"), (P.st("y", i, rd("acc", "float32")),), (P.st("y", i, x),)),
    )
    xv = RNG.uniform(-3, 3, n).astype(np.float32)
    out = run(P.program(body), {"x": xv}, {"N": n})["y"]
    np.testing.assert_allclose(out, np.where(xv > 0, 6 * xv, xv), rtol=1e-6)


@pytest.mark.parametrize("n", SIZES)
def test_single_program_full_reduction_and_serial_loops(n):
    """No parallel loop: one program; a serial loop with step 2 and a scalar output."""
    P = Prog(
        buf("x", "float64", ["N"], "input"),
        buf("s", "float64", [1], "output"),
        buf("t", "float64", [1], "output"),
    )
    j = V("j")
    body = [
        local("acc", "float64", C(0.0, "float64")),
        loop("j", 0, V("N"), assign("acc", add(rd("acc", "float64"), P.ld("x", j))), kind="reduce"),
        P.st("s", 0, rd("acc", "float64")),
        local("ev", "float64", C(0.0, "float64")),
        loop("j", 1, V("N"), assign("ev", add(rd("ev", "float64"), P.ld("x", j))), step=2),
        P.st("t", 0, rd("ev", "float64")),
    ]
    xv = RNG.standard_normal(n)
    out = run(P.program(*body), {"x": xv}, {"N": n})
    np.testing.assert_allclose(out["s"], [xv.sum()], rtol=1e-12)
    np.testing.assert_allclose(out["t"], [xv[1::2].sum()], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("shape", [(1, 1), (3, 7), (5, 33)])
def test_flattened_parallel_nest_two_kernels_and_temp(shape):
    """Kernel 1: t[i,j] = x[i,j] * 2 over a 2-deep parallel nest; kernel 2 reads the temp."""
    P = Prog(
        buf("x", "float32", ["N", "M"], "input"),
        buf("b", "float32", ["M"], "input"),
        buf("t", "float32", ["N", "M"], "temp"),
        buf("y", "float32", ["N", "M"], "output"),
        sizes=("N", "M"),
    )
    i, j = V("i"), V("j")
    k1 = P.kernel(
        "scale",
        ploop("i", 0, V("N"), ploop("j", 0, V("M"), P.st("t", i, j, mul(P.ld("x", i, j), C(2.0))))),
    )
    k2 = P.kernel(
        "bias",
        L.Let("one", C(1.0)),
        ploop(
            "i",
            0,
            V("N"),
            ploop(
                "j",
                0,
                V("M"),
                P.st("y", i, j, add(add(P.ld("t", i, j), P.ld("b", j)), V("one", "float32"))),
            ),
        ),
    )
    n, m = shape
    xv = RNG.standard_normal(shape).astype(np.float32)
    bv = RNG.standard_normal(m).astype(np.float32)
    out = run(P.program(k1, k2), {"x": xv, "b": bv}, {"N": n, "M": m})
    np.testing.assert_allclose(out["y"], xv * 2 + bv + 1, rtol=1e-6)


@pytest.mark.parametrize("n", SIZES)
def test_lane_dependent_bounds_with_step_and_offset(n):
    """for j in range(i, 2*i+1, 2): per-lane start, stop and step > 1."""
    P = Prog(
        buf("x", "int64", ["M"], "input"), buf("y", "int64", ["N"], "output"), sizes=("N", "M")
    )
    i, j = V("i"), V("j")
    body = ploop(
        "i",
        0,
        V("N"),
        local("a", "int64", C(0)),
        loop(
            "j",
            i,
            add(mul(C(2), i), C(1)),
            assign("a", add(rd("a", "int64"), P.ld("x", j))),
            step=2,
        ),
        P.st("y", i, rd("a", "int64")),
    )
    xv = RNG.integers(-100, 100, 2 * n + 1)
    out = run(P.program(body), {"x": xv}, {"N": n, "M": 2 * n + 1})["y"]
    np.testing.assert_array_equal(out, [xv[k : 2 * k + 1 : 2].sum() for k in range(n)])


def test_vector_loop_and_static_size_local_array():
    """Inner `vector` loop; a local array whose shape is a static size; bool local array."""
    P = Prog(
        buf("x", "float32", ["N", "K"], "input"),
        buf("y", "float32", ["N", "K"], "output"),
        buf("f", "bool", ["N", "K"], "output"),
        sizes=("N",),
    )
    i, k = V("i"), V("k")
    body = ploop(
        "i",
        0,
        V("N"),
        local("row", "float32", C(0.0), shape=(V("K"),)),
        local("pos", "bool", C(False), shape=(V("K"),)),
        loop(
            "k",
            0,
            V("K"),
            assign("row", mul(P.ld("x", i, k), C(2.0)), k),
            assign("pos", call("gt", P.ld("x", i, k), C(0.0)), k),
            kind="vector",
        ),
        loop(
            "k",
            0,
            V("K"),
            P.st("y", i, V("K") if False else k, rd("row", "float32", k)),
            P.st("f", i, k, rd("pos", "bool", k)),
            kind="vector",
        ),
    )
    prog = P.program(body, static_sizes=(("K", 5),))
    xv = RNG.standard_normal((9, 5)).astype(np.float32)
    out = run(prog, {"x": xv}, {"N": 9})
    np.testing.assert_allclose(out["y"], 2 * xv)
    np.testing.assert_array_equal(out["f"], xv > 0)


def test_scalar_param_as_tensor_and_number():
    P = Prog(
        buf("x", "float32", ["N"], "input"),
        buf("a", "float64", [], "scalar"),
        buf("y", "float32", ["N"], "output"),
    )
    i = V("i")
    prog = P.program(ploop("i", 0, V("N"), P.st("y", i, mul(P.ld("x", i), P.var("a")))))
    xv = RNG.standard_normal(5).astype(np.float32)
    for a in (1.5, torch.tensor(1.5, dtype=torch.float64)):
        out = run(prog, {"x": xv, "a": a}, {"N": 5})["y"]
        np.testing.assert_allclose(out, (xv.astype(np.float64) * 1.5).astype(np.float32))


def test_scalar_params_are_plain_arguments():
    """float64 (full precision), int32 and bool scalars reach the kernel as numbers, and the
    launcher neither allocates a tensor for them nor reads one back (CUDA-graph capturable)."""
    P = Prog(
        buf("x", "float64", ["N"], "input"),
        buf("a", "float64", [], "scalar"),
        buf("k", "int32", [], "scalar"),
        buf("f", "bool", [], "scalar"),
        buf("y", "float64", ["N"], "output"),
    )
    i = V("i")
    val = add(mul(P.ld("x", i), P.var("a")), call("cast", P.var("k"), dtype="float64"))
    val = call("select", P.var("f"), val, call("neg", val), dtype="float64")
    prog = P.program(ploop("i", 0, V("N"), P.st("y", i, val)))
    xv = RNG.standard_normal(7)
    a = 1.0 + 2.0**-40
    for f in (True, False):
        out = run(prog, {"x": xv, "a": a, "k": -3, "f": f}, {"N": 7})["y"]
        ref = xv * a - 3
        np.testing.assert_array_equal(out, ref if f else -ref)
    from tensorc.backends import get_backend

    src = get_backend("triton").render(prog)
    launch = src[src.index("def launch") :]
    assert "torch." not in launch and ".item()" not in launch and "tl.load(s_" not in src


def test_empty_domain_launches_nothing():
    prog = _unary_prog("float32", "float32", lambda v: call("exp", v))
    out = run(prog, {"x": np.zeros(0, np.float32)}, {"N": 0})["y"]
    assert out.shape == (0,)


@pytest.mark.parametrize("n", [5, 17, 40, 300])  # 300: W = 512, BLOCK 128 -> 32
def test_local_array_over_a_size_beyond_the_specialised_ones(n):
    """a[K] with K a runtime size: the column width is a constexpr set at launch (next power of
    two), so B > 16 attention's acc[E] and layernorm's acc[B] render on the generic path; BLOCK
    shrinks so that BLOCK x width stays within LANE_COLUMNS."""
    x, y = buf("x", "float32", ["N", "K"], "input"), buf("y", "float32", ["N", "K"], "output")
    P = Prog(x, y, sizes=("N", "K"))
    i, k = V("i"), V("k")
    rev = call("sub", call("sub", V("K"), k), C(1))
    prog = P.program(
        ploop(
            "i",
            0,
            V("N"),
            local("a", "float32", C(1.0), shape=(V("K"),)),
            loop("k", 0, V("K"), assign("a", add(rd("a", "float32", k), P.ld("x", i, k)), k)),
            loop("k", 0, V("K"), P.st("y", i, k, rd("a", "float32", rev))),
        )
    )
    xv = RNG.standard_normal((3, n)).astype(np.float32)
    out = run(prog, {"x": xv}, {"N": 3, "K": n})["y"]
    np.testing.assert_allclose(out, 1 + xv[:, ::-1], rtol=1e-6)


@pytest.mark.parametrize("shape", ["floor", "ceiling"])
def test_strided_output_shapes(shape):
    """y[N, floor(K/3)] or y[N, ceiling(K/3)] (strided windows): the row stride of y is the floor
    or ceiling of a size over an integer (it was 'shape expression floor(H/2) is not supported')."""
    import sympy

    k3 = getattr(sympy, shape)(sympy.Symbol("K") / 3)
    y = L.Buffer("y", "float32", (sympy.Symbol("N"), k3), "output")
    P = Prog(buf("x", "float32", ["N", "K"], "input"), y, sizes=("N", "K"))
    i, c = V("i"), V("c")
    cols = call("floordiv", add(V("K"), C(2 if shape == "ceiling" else 0)), C(3))
    prog = P.program(
        ploop("i", 0, V("N"), loop("c", 0, cols, P.st("y", i, c, P.ld("x", i, mul(c, C(3))))))
    )
    xv = RNG.standard_normal((4, 11)).astype(np.float32)
    out = run(prog, {"x": xv}, {"N": 4, "K": 11})["y"]
    np.testing.assert_array_equal(out, xv[:, ::3][:, : out.shape[1]])
    assert out.shape == (4, 3 if shape == "floor" else 4)


def test_local_array_over_a_loop_variable_raises():
    P = Prog(buf("x", "float32", ["N"], "input"), buf("y", "float32", ["N"], "output"))
    i = V("i")
    prog = P.program(
        ploop(
            "i",
            0,
            V("N"),
            local("a", "float32", C(0.0), shape=(add(i, C(1)),)),
            P.st("y", i, rd("a", "float32", i)),
        )
    )
    from tensorc.backends import get_backend

    with pytest.raises(UnsupportedError, match="not computable from the sizes"):
        get_backend("triton").render(prog)


def test_unsupported_unknown_op_raises():
    prog = _unary_prog("float32", "float32", lambda v: L.Call("frobnicate", (v,), "float32"))
    from tensorc.backends import get_backend

    with pytest.raises(UnsupportedError, match="frobnicate"):
        get_backend("triton").render(prog)
