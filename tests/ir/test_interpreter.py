"""The TensorIR reference interpreter against hand-written numpy (workloads W1-W4, W7, W9, ...)."""

from __future__ import annotations

import numpy as np
import pytest
import sympy

from tensorc.errors import ArgumentError, ShapeError
from tensorc.ir.interpreter import bf16_to_f32, f32_to_bf16, interpret
from tensorc.ir.ops import result_dtype
from tensorc.ir.tensor_ir import (
    Access,
    Call,
    Const,
    Def,
    Expr,
    Index,
    Range,
    Reduce,
    Statement,
    TensorDecl,
    size_symbol,
)

# --- a tiny builder for hand-written TensorIR (until the front end lands) ----------------------


def _dim(d):
    return (
        sympy.Integer(d)
        if isinstance(d, int)
        else (d if isinstance(d, sympy.Expr) else size_symbol(d))
    )


def decl(name: str, dtype: str, shape, role: str) -> TensorDecl:
    return TensorDecl(name, dtype, tuple(_dim(d) for d in shape), role)


def rng(i: str, lo, hi) -> Range:
    return Range(i, _dim(lo), _dim(hi))


def ix(name: str) -> Index:
    return Index(name)


def acc(t: str, *idx, dtype: str = "float32") -> Access:
    return Access(t, tuple(ix(i) if isinstance(i, str) else i for i in idx), dtype)


def const(v, dtype: str = "float32") -> Const:
    return Const(v, dtype)


def call(fn: str, *args: Expr) -> Call:
    return Call(fn, args, result_dtype(fn, tuple(a.dtype for a in args)))


def sq(e: Expr) -> Call:
    return call("mul", e, e)


def red(op, ranges, body, mask=None, k=0, rank=None, dtype=None) -> Reduce:
    if dtype is None:
        dtype = "int64" if op.startswith("arg") else body.dtype
    return Reduce(op, tuple(ranges), body, mask, dtype, k, rank)


def stmt(t: str, idx: str | tuple, dom, rhs: Expr, mask=None) -> Statement:
    idx = tuple(idx)
    return Statement(t, idx, tuple(rng(i, 0, h) for i, h in zip(idx, dom)), rhs, mask)


def mkdef(inputs, outputs, body, temps=()) -> Def:
    return Def(
        "test",
        tuple(decl(*d, "input") for d in inputs),
        tuple(decl(*d, "output") for d in outputs),
        tuple(decl(*d, "temp") for d in temps),
        tuple(body),
    )


def dist2(i="i", j="j"):
    """sum(d: (x(i,d) - y(j,d))^2)"""
    return red("sum", [rng("d", 0, "D")], sq(call("sub", acc("x", i, "d"), acc("y", j, "d"))))


def _d2(x, y):
    return ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)


RNG = np.random.default_rng(0)

# --- workloads -------------------------------------------------------------------------------------


def w1_def():
    sigma = acc("sigma")
    k = call("exp", call("div", call("neg", dist2()), call("mul", const(2.0), sq(sigma))))
    body = red("sum", [rng("j", 0, "M")], call("mul", k, acc("b", "j", "e")))
    return mkdef(
        [
            ("x", "float32", ("N", "D")),
            ("y", "float32", ("M", "D")),
            ("b", "float32", ("M", "E")),
            ("sigma", "float32", ()),
        ],
        [("out", "float32", ("N", "E"))],
        [stmt("out", "ie", ("N", "E"), body)],
    )


def w1_numpy(x, y, b, sigma):
    return np.exp(-_d2(x, y) / (2 * sigma * sigma)) @ b


@pytest.mark.parametrize("float64", [False, True])
def test_w1_gauss_ksum(float64):
    x, y, b = RNG.random((37, 3)), RNG.random((29, 3)), RNG.random((29, 2))
    args = {
        "x": x.astype(np.float32),
        "y": y.astype(np.float32),
        "b": b.astype(np.float32),
        "sigma": 0.7,
    }
    out = interpret(w1_def(), args, float64=float64)["out"]
    assert out.dtype == np.float32 and out.shape == (37, 2)
    np.testing.assert_allclose(
        out, w1_numpy(*(a.astype(np.float32) for a in (x, y, b)), 0.7), rtol=1e-5
    )


def test_chunking_invariance_w1():
    x, y, b = RNG.random((13, 3)), RNG.random((11, 3)), RNG.random((11, 2))
    args = {"x": x, "y": y, "b": b, "sigma": 0.5}
    ref = interpret(w1_def(), args, float64=True)["out"]
    for limit in (1, 64, 1000):
        np.testing.assert_allclose(interpret(w1_def(), args, True, limit)["out"], ref, rtol=1e-6)


def nn_def(k=None):
    ins = [("x", "float32", ("N", "D")), ("y", "float32", ("M", "D"))]
    if k is None:
        return mkdef(
            ins,
            [("idx", "int64", ("N",))],
            [stmt("idx", "i", ("N",), red("argmin", [rng("j", 0, "M")], dist2()))],
        )
    body = red("argkmin", [rng("j", 0, "M")], dist2(), k=k, rank="r")
    vals = red("kmin", [rng("j", 0, "M")], dist2(), k=k, rank="r")
    return mkdef(
        ins,
        [("idx", "int64", ("N", k)), ("val", "float32", ("N", k))],
        [stmt("idx", "ir", ("N", k), body), stmt("val", "ir", ("N", k), vals)],
    )


@pytest.mark.parametrize("limit", [64 << 20, 1])
def test_w2_nn_argmin(limit):
    x, y = RNG.random((20, 4), np.float32), RNG.random((15, 4), np.float32)
    y[7] = y[3]  # a tie: the smaller index wins
    out = interpret(nn_def(), {"x": x, "y": y}, max_chunk_bytes=limit)["idx"]
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, np.argmin(_d2(x, y), axis=1))


@pytest.mark.parametrize("limit", [64 << 20, 1, 200])
@pytest.mark.parametrize("m", [15, 3])  # m < k: the tail is +inf / -1
def test_w2_argkmin_kmin(limit, m):
    x, y = RNG.random((9, 3), np.float32), RNG.random((m, 3), np.float32)
    out = interpret(nn_def(k=5), {"x": x, "y": y}, max_chunk_bytes=limit)
    d = _d2(x, y)
    order = np.argsort(d, axis=1, kind="stable")[:, :5]
    n = min(5, m)
    np.testing.assert_array_equal(out["idx"][:, :n], order)
    np.testing.assert_allclose(out["val"][:, :n], np.take_along_axis(d, order, 1), rtol=1e-5)
    assert (out["idx"][:, n:] == -1).all() and np.isinf(out["val"][:, n:]).all()


def test_w3_softmin_logsumexp():
    dist = dist2()
    inner = call("div", call("sub", acc("g", "j"), dist), acc("eps"))
    rhs = call("mul", call("neg", acc("eps")), red("logsumexp", [rng("j", 0, "M")], inner))
    d = mkdef(
        [
            ("x", "float64", ("N", "D")),
            ("y", "float64", ("M", "D")),
            ("g", "float64", ("M",)),
            ("eps", "float64", ()),
        ],
        [("f", "float64", ("N",))],
        [stmt("f", "i", ("N",), rhs)],
    )
    d = _retype(d, "float64")
    x, y, g = RNG.random((8, 2)), RNG.random((300, 2)), RNG.random(300) * 50
    eps = 1e-3  # large exponents: only a max-shifted logsumexp survives
    z = (g[None, :] - _d2(x, y)) / eps
    m = z.max(1, keepdims=True)
    ref = -eps * (np.log(np.exp(z - m).sum(1)) + m[:, 0])
    for limit in (64 << 20, 100):
        out = interpret(d, {"x": x, "y": y, "g": g, "eps": eps}, max_chunk_bytes=limit)["f"]
        np.testing.assert_allclose(out, ref, rtol=1e-10)


def _retype(d: Def, dtype: str) -> Def:
    """Rewrite every float32 node of a hand-built def into `dtype`."""
    import dataclasses

    def fix(e):
        if isinstance(e, (Access, Call, Const, Reduce)):
            kw = {"dtype": dtype if e.dtype == "float32" else e.dtype}
            if isinstance(e, Access):
                kw["indices"] = tuple(fix(i) for i in e.indices)
            if isinstance(e, Call):
                kw["args"] = tuple(fix(a) for a in e.args)
            if isinstance(e, Reduce):
                kw["body"] = fix(e.body)
                kw["mask"] = fix(e.mask) if e.mask is not None else None
            return dataclasses.replace(e, **kw)
        return e

    return dataclasses.replace(
        d, body=tuple(dataclasses.replace(s, rhs=fix(s.rhs)) for s in d.body)
    )


def test_w4_causal_attention():
    bhij = ("b", "h", "i", "j")
    s = call(
        "mul",
        red(
            "sum",
            [rng("d", 0, "D")],
            call("mul", acc("q", "b", "h", "i", "d"), acc("k", "b", "h", "j", "d")),
        ),
        acc("scale"),
    )
    causal = call("le", ix("j"), ix("i"))
    causal2 = call("le", ix("j2"), ix("i"))
    lse = red("logsumexp", [rng("j2", 0, "M")], acc("s", "b", "h", "i", "j2"), mask=causal2)
    soft = call("exp", call("sub", acc("s", *bhij), lse))
    o = red("sum", [rng("j", 0, "M")], call("mul", soft, acc("v", "b", "h", "j", "e")), mask=causal)
    d = mkdef(
        [
            ("q", "float32", ("B", "H", "N", "D")),
            ("k", "float32", ("B", "H", "M", "D")),
            ("v", "float32", ("B", "H", "M", "E")),
            ("scale", "float32", ()),
        ],
        [("o", "float32", ("B", "H", "N", "E"))],
        [stmt("s", bhij, ("B", "H", "N", "M"), s), stmt("o", "bhie", ("B", "H", "N", "E"), o)],
        temps=[("s", "float32", ("B", "H", "N", "M"))],
    )
    q, k, v = (
        RNG.standard_normal(sh, dtype=np.float32)
        for sh in ((2, 3, 7, 4), (2, 3, 7, 4), (2, 3, 7, 5))
    )
    sc = np.einsum("bhid,bhjd->bhij", q, k) * 0.5
    sc = np.where(np.tril(np.ones((7, 7), bool)), sc, -np.inf)
    p = np.exp(sc - sc.max(-1, keepdims=True))
    ref = (p / p.sum(-1, keepdims=True)) @ v
    for limit in (64 << 20, 50):
        out = interpret(d, {"q": q, "k": k, "v": v, "scale": 0.5}, max_chunk_bytes=limit)["o"]
        np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)


def test_gram_and_rbf_gram():
    x = RNG.random((10, 4), np.float32)
    g = mkdef(
        [("x", "float32", ("N", "D"))],
        [("g", "float32", ("N", "N"))],
        [
            stmt(
                "g",
                "ij",
                ("N", "N"),
                red("sum", [rng("d", 0, "D")], call("mul", acc("x", "i", "d"), acc("x", "j", "d"))),
            )
        ],
    )
    np.testing.assert_allclose(interpret(g, {"x": x})["g"], x @ x.T, rtol=1e-6)
    d = red("sum", [rng("d", 0, "D")], sq(call("sub", acc("x", "i", "d"), acc("x", "j", "d"))))
    rbf = mkdef(
        [("x", "float32", ("N", "D")), ("gamma", "float32", ())],
        [("k", "float32", ("N", "N"))],
        [stmt("k", "ij", ("N", "N"), call("exp", call("mul", call("neg", acc("gamma")), d)))],
    )
    np.testing.assert_allclose(
        interpret(rbf, {"x": x, "gamma": 0.3})["k"], np.exp(-0.3 * _d2(x, x)), rtol=1e-6
    )


def test_tucker_core():
    t, u1, u2, u3 = (RNG.random(s) for s in ((4, 5, 6), (4, 2), (5, 3), (6, 2)))
    body = call(
        "mul",
        call("mul", call("mul", acc("T", "i", "j", "k"), acc("U1", "i", "a")), acc("U2", "j", "b")),
        acc("U3", "k", "c"),
    )
    d = mkdef(
        [
            ("T", "float64", ("I", "J", "K")),
            ("U1", "float64", ("I", "R")),
            ("U2", "float64", ("J", "S")),
            ("U3", "float64", ("K", "P")),
        ],
        [("G", "float64", ("R", "S", "P"))],
        [
            stmt(
                "G",
                "abc",
                ("R", "S", "P"),
                red("sum", [rng("i", 0, "I"), rng("j", 0, "J"), rng("k", 0, "K")], body),
            )
        ],
    )
    d = _retype(d, "float64")
    ref = np.einsum("ijk,ia,jb,kc->abc", t, u1, u2, u3)
    for limit in (64 << 20, 8):
        out = interpret(d, {"T": t, "U1": u1, "U2": u2, "U3": u3}, max_chunk_bytes=limit)["G"]
        np.testing.assert_allclose(out, ref, rtol=1e-12)


def test_indirect_gather_and_affine_indices():
    table = RNG.random((10, 4), np.float32)
    idx = np.array([3, 0, 9, 3, 1], np.int32)
    gather = acc("T", acc("idx", "l", dtype="int32"), "w")
    # out(l, w) = T(idx(l), w) + T(2*l // 3 + 1, w % 2)
    aff = acc(
        "T",
        call(
            "add",
            call("floordiv", call("mul", const(2, "int64"), ix("l")), const(3, "int64")),
            const(1, "int64"),
        ),
        call("mod", ix("w"), const(2, "int64")),
    )
    d = mkdef(
        [("T", "float32", ("V", "W")), ("idx", "int32", ("L",))],
        [("out", "float32", ("L", "W"))],
        [stmt("out", "lw", ("L", "W"), call("add", gather, aff))],
    )
    out = interpret(d, {"T": table, "idx": idx})["out"]
    l, w = np.arange(5)[:, None], np.arange(4)[None, :]
    np.testing.assert_allclose(out, table[idx] + table[2 * l // 3 + 1, w % 2])


def test_out_of_range_indirect_read_is_an_error():
    d = mkdef(
        [("T", "float32", ("V",)), ("idx", "int32", ("L",))],
        [("out", "float32", ("L",))],
        [stmt("out", "l", ("L",), acc("T", acc("idx", "l", dtype="int32")))],
    )
    with pytest.raises(ShapeError, match="out of range"):
        interpret(d, {"T": np.ones(3, np.float32), "idx": np.array([0, 5], np.int32)})


@pytest.mark.parametrize(
    "op, expect",
    [
        ("sum", 0.0),
        ("prod", 1.0),
        ("max", -np.inf),
        ("min", np.inf),
        ("logsumexp", -np.inf),
        ("argmax", -1),
        ("argmin", -1),
    ],
)
def test_masked_reduction_empty_domain_gives_identity(op, expect):
    # out(i) = op(j: x(j)) where j < i   -- row 0 has an empty domain
    mask = call("lt", ix("j"), ix("i"))
    body = red(op, [rng("j", 0, "N")], acc("x", "j"), mask=mask)
    dt = "int64" if op.startswith("arg") else "float32"
    d = mkdef([("x", "float32", ("N",))], [("out", dt, ("N",))], [stmt("out", "i", ("N",), body)])
    x = np.array([3.0, -1.0, 2.0, 5.0, 0.5], np.float32)
    out = interpret(d, {"x": x})["out"]
    assert out[0] == expect
    fn = {
        "sum": np.sum,
        "prod": np.prod,
        "max": np.max,
        "min": np.min,
        "argmax": np.argmax,
        "argmin": np.argmin,
        "logsumexp": lambda a: np.log(np.exp(a).sum()),
    }[op]
    np.testing.assert_allclose(out[1:], [fn(x[:i]) for i in range(1, 5)], rtol=1e-6)


def test_statement_mask_and_subrange_domain():
    # out(i) = x(i) * 2 where i in 1:4, i % 2 == 1 ; other points stay 0
    d = mkdef(
        [("x", "float32", ("N",))],
        [("out", "float32", ("N",))],
        [
            Statement(
                "out",
                ("i",),
                (rng("i", 1, 4),),
                call("mul", acc("x", "i"), const(2.0)),
                call("eq", call("mod", ix("i"), const(2, "int64")), const(1, "int64")),
            )
        ],
    )
    out = interpret(d, {"x": np.arange(6, dtype=np.float32)})["out"]
    np.testing.assert_array_equal(out, [0, 2, 0, 6, 0, 0])


def test_multi_index_argmin_and_scalar_output():
    a = RNG.random((4, 6))
    a[3, 1] = a[1, 2] = -1.0  # tie: row-major first wins
    d = mkdef(
        [("A", "float64", ("N", "M"))],
        [("idx", "int64", ()), ("s", "float64", ())],
        [
            stmt(
                "idx",
                (),
                (),
                red(
                    "argmin",
                    [rng("i", 0, "N"), rng("j", 0, "M")],
                    acc("A", "i", "j", dtype="float64"),
                ),
            ),
            stmt(
                "s",
                (),
                (),
                red(
                    "sum", [rng("i", 0, "N"), rng("j", 0, "M")], acc("A", "i", "j", dtype="float64")
                ),
            ),
        ],
    )
    for limit in (64 << 20, 1):
        out = interpret(d, {"A": a}, max_chunk_bytes=limit)
        assert out["idx"].shape == () and out["idx"] == 1 * 6 + 2 == np.argmin(a)
        np.testing.assert_allclose(out["s"], a.sum())


def test_successive_updates_read_old_values():
    # O(i) = x(i); O(i) = O(i) + O(N - 1 - i)  (reads see values from before the statement)
    rev = call("sub", call("sub", Index("N_"), ix("i")), const(1, "int64"))
    d = mkdef(
        [("x", "float32", ("N",)), ("N_", "int64", ())],
        [("O", "float32", ("N",))],
        [
            stmt("O", "i", ("N",), acc("x", "i")),
            stmt("O", "i", ("N",), call("add", acc("O", "i"), acc("O", rev))),
        ],
    )
    x = np.arange(5, dtype=np.float32)
    for limit in (64 << 20, 1):
        # N_ as a scalar-parameter read, and as a bare Index naming a bound integer
        for dd in (_replace_index_with_param(d), d):
            out = interpret(dd, {"x": x, "N_": 5}, max_chunk_bytes=limit)["O"]
            np.testing.assert_array_equal(out, x + x[::-1])


def _replace_index_with_param(d: Def) -> Def:
    """Swap Index('N_') for an Access of the scalar parameter N_ (the builder has no shortcut)."""
    import dataclasses

    def fix(e):
        if isinstance(e, Index) and e.name == "N_":
            return Access("N_", (), "int64")
        if isinstance(e, Call):
            return dataclasses.replace(e, args=tuple(fix(a) for a in e.args))
        if isinstance(e, Access):
            return dataclasses.replace(e, indices=tuple(fix(a) for a in e.indices))
        return e

    return dataclasses.replace(
        d, body=tuple(dataclasses.replace(s, rhs=fix(s.rhs)) for s in d.body)
    )


def test_size_binding_errors_and_expression_dims():
    d = mkdef(
        [("x", "float32", ("N",)), ("y", "float32", (sympy.Integer(2) * size_symbol("N"),))],
        [("out", "float32", ("N",))],
        [
            stmt(
                "out",
                "i",
                ("N",),
                call("add", acc("x", "i"), acc("y", call("mul", const(2, "int64"), ix("i")))),
            )
        ],
    )
    y = np.arange(8, dtype=np.float32)
    np.testing.assert_array_equal(interpret(d, {"x": np.ones(4), "y": y})["out"], 1 + y[::2])
    with pytest.raises(ArgumentError, match="does not fit|expected"):
        interpret(d, {"x": np.ones(4), "y": np.ones(7)})
    gram = mkdef(
        [("x", "float32", ("N", "D")), ("z", "float32", ("N",))],
        [("out", "float32", ("N",))],
        [stmt("out", "i", ("N",), acc("z", "i"))],
    )
    with pytest.raises(ArgumentError, match=r"'x'.*'z'|N = 3.*N = 4"):
        interpret(gram, {"x": np.ones((3, 2)), "z": np.ones(4)})
    with pytest.raises(ArgumentError, match="missing"):
        interpret(gram, {"x": np.ones((3, 2))})


def test_dtypes_fp16_bf16_int_bool_cast():
    # out(i) = float16(x(i) * 3) ; bf16 in and out; int and bool arithmetic like numpy
    x16 = (RNG.random(8) * 10).astype(np.float16)
    d = mkdef(
        [("x", "float16", ("N",))],
        [("out", "float16", ("N",))],
        [
            stmt(
                "out",
                "i",
                ("N",),
                call("mul", acc("x", "i", dtype="float16"), const(3.0, "float16")),
            )
        ],
    )
    out = interpret(d, {"x": x16})["out"]
    assert out.dtype == np.float16
    np.testing.assert_array_equal(out, (x16.astype(np.float32) * 3).astype(np.float16))

    f = np.array([1.0, 1.00390625, 1.01171875, -2.5, np.inf, 3.3e38], np.float32)
    bits = f32_to_bf16(f)
    assert bits.dtype == np.uint16
    np.testing.assert_array_equal(bf16_to_f32(bits)[:5], [1.0, 1.0, 1.015625, -2.5, np.inf])
    assert np.isnan(bf16_to_f32(f32_to_bf16(np.array([np.nan], np.float32))))[0]
    db = mkdef(
        [("x", "bfloat16", ("N",))],
        [("out", "bfloat16", ("N",))],
        [
            stmt(
                "out",
                "i",
                ("N",),
                call("add", acc("x", "i", dtype="bfloat16"), acc("x", "i", dtype="bfloat16")),
            )
        ],
    )
    outb = interpret(db, {"x": f32_to_bf16(f[:4])})["out"]
    assert outb.dtype == np.uint16
    np.testing.assert_array_equal(bf16_to_f32(outb), 2 * bf16_to_f32(f32_to_bf16(f[:4])))

    a = np.array([100, 120, -7], np.int8)
    c = Call("cast", (call("gt", acc("a", "i", dtype="int8"), const(0, "int8")),), "int32")
    di = mkdef(
        [("a", "int8", ("N",))],
        [("s", "int8", ("N",)), ("c", "int32", ("N",))],
        [
            stmt(
                "s",
                "i",
                ("N",),
                call("add", acc("a", "i", dtype="int8"), acc("a", "i", dtype="int8")),
            ),
            stmt("c", "i", ("N",), c),
        ],
    )
    out = interpret(di, {"a": a})
    np.testing.assert_array_equal(out["s"], a + a)  # wraps like numpy int8
    np.testing.assert_array_equal(out["c"], [1, 1, 0])


@pytest.mark.slow
def test_w1_20k_memory_bound():
    import tracemalloc

    n = 20_000
    x = RNG.random((n, 3), np.float32)
    b = RNG.random((n, 1), np.float32)
    tracemalloc.start()
    out = interpret(w1_def(), {"x": x, "y": x, "b": b, "sigma": 0.5})["out"]
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 500e6, f"peak {peak / 1e6:.0f} MB"
    rows = slice(0, 50)
    np.testing.assert_allclose(out[rows], w1_numpy(x[rows], x, b, 0.5), rtol=1e-4)
