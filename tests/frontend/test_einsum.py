"""einsum front end: interpret(einsum_def(...)) must equal numpy.einsum, errors included."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tensorc.errors import ShapeError, SyntaxError_, TensorcError
from tensorc.frontend.einsum import einsum_def
from tensorc.ir.interpreter import interpret

RNG = np.random.default_rng(1)


def _operand(shape, dtype):
    if np.dtype(dtype) == np.bool_:
        return RNG.random(shape) < 0.5
    if np.dtype(dtype).kind in "iu":
        return RNG.integers(-3, 4, shape).astype(dtype)
    return RNG.standard_normal(shape).astype(dtype)


def run_einsum(subscripts, *ops):
    d = einsum_def(subscripts, [o.shape for o in ops], [o.dtype.name for o in ops])
    return interpret(d, {f"op{n}": o for n, o in enumerate(ops)})["out"]


def check(subscripts, *ops):
    ref = np.einsum(subscripts, *ops)
    out = run_einsum(subscripts, *ops)
    assert out.shape == np.shape(ref) and out.dtype == np.asarray(ref).dtype, (out, ref)
    if out.dtype.kind == "f":
        np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5)
    else:
        np.testing.assert_array_equal(out, ref)


@pytest.mark.parametrize(
    "subscripts, shapes",
    [
        ("ij,jk->ik", [(3, 4), (4, 5)]),
        ("ij,jk", [(3, 4), (4, 5)]),
        ("Ba,aA", [(2, 3), (3, 4)]),  # implicit output is ASCII-sorted: uppercase first
        ("bA,aB", [(2, 3), (3, 4)]),
        ("ii", [(3, 3)]),  # trace
        ("ii->i", [(3, 3)]),  # diagonal
        ("iij->ji", [(2, 2, 3)]),
        ("i,i", [(4,), (4,)]),
        ("i,j", [(2,), (3,)]),
        ("ij->", [(2, 3)]),
        ("", [()]),
        (",ij", [(), (2, 3)]),
        ("ij,j->i", [(3, 4), (1,)]),  # size-1 broadcast of a named label
        ("ij,ij->ij", [(2, 1), (1, 3)]),
        ("...ij,...jk->...ik", [(2, 1, 3, 4), (5, 4, 2)]),
        ("...i,...i", [(2, 1, 3), (4, 3)]),
        ("i...,i...", [(2, 1, 3), (2, 4, 3)]),
        ("...", [(2, 3)]),
        ("ij->...ij", [(3, 4)]),
        ("...ii->...i", [(2, 3, 3)]),
        ("ijk,ia,jb,kc->abc", [(3, 4, 2), (3, 2), (4, 3), (2, 2)]),
        ("bij,jk,bkl->bil", [(2, 3, 4), (4, 2), (2, 2, 3)]),
        ("ij,jk,kl,lm->im", [(2, 3), (3, 4), (4, 2), (2, 3)]),
        ("ij,jk", [(2, 0), (0, 3)]),  # empty contraction: zeros
    ],
)
def test_einsum_matches_numpy(subscripts, shapes):
    check(subscripts, *(_operand(s, "float64") for s in shapes))


def test_einsum_dtypes_promote_like_numpy():
    check("i,i", np.arange(3, dtype=np.int8), np.ones(3, np.float16))
    check("i,j->ij", np.arange(3, dtype=np.int8), np.arange(3, dtype=np.uint8))
    check("i,i", _operand(5, bool), _operand(5, bool))
    check("ij,jk", _operand((3, 4), "int32"), _operand((4, 2), "float32"))
    check("i->", np.full(40, 100, np.int8))  # wraps exactly like numpy


@pytest.mark.parametrize(
    "subscripts, shapes, err, match",
    [
        ("ij->ii", [(3, 4)], SyntaxError_, "more than once"),
        ("ij->k", [(3, 4)], SyntaxError_, "no input"),
        ("ii", [(2, 3)], ShapeError, "operand 0 .'ii'.*sizes 2 and 3"),
        ("ij,jk", [(2, 3), (4, 5)], ShapeError, "operand 1 .'jk'.*'j' size 4.*size 3"),
        ("ij", [(2, 3, 4)], ShapeError, "operand 0 has 3 dimension"),
        ("ij,jk", [(2, 3)], ShapeError, "2 operand"),
        ("...ij->ij", [(5, 3, 4)], ShapeError, "no '...'"),
        ("i1", [(2, 3)], SyntaxError_, "invalid character"),
        ("i.j", [(2, 3)], SyntaxError_, "'.' outside"),
        ("i->j->k", [(2,)], SyntaxError_, "more than once"),
    ],
)
def test_einsum_errors(subscripts, shapes, err, match):
    with pytest.raises(err, match=match):
        einsum_def(subscripts, shapes, ["float32"] * len(shapes))
    with pytest.raises(ValueError):  # numpy rejects it too
        np.einsum(subscripts, *(np.ones(s) for s in shapes))


def test_einsum_def_is_symbolic():
    d = einsum_def("ij,jk", [(2, 3), (3, 4)], ["float32", "float32"])
    assert d.name == "einsum" and [t.name for t in d.inputs] == ["op0", "op1"]
    assert [str(s) for s in d.outputs[0].shape] == ["n_i", "n_k"]
    # the same Def runs at another size
    a, b = RNG.random((5, 6), np.float32), RNG.random((6, 2), np.float32)
    np.testing.assert_allclose(interpret(d, {"op0": a, "op1": b})["out"], a @ b, rtol=1e-5)


# --- random equations through hypothesis ---------------------------------------------------------

LETTERS = "abcdeAB"
DTYPES = ["float64", "float32", "int32", "int64", "bool"]


@st.composite
def equations(draw):
    sizes = {c: draw(st.integers(1, 3)) for c in LETTERS}
    nops = draw(st.integers(1, 4))
    use_ell = draw(st.booleans())
    ell_shape = draw(st.lists(st.integers(1, 3), min_size=0, max_size=2)) if use_ell else []
    terms, shapes, dtypes = [], [], []
    for _ in range(nops):
        labels = draw(st.lists(st.sampled_from(LETTERS), min_size=0, max_size=3))
        shape = []
        for k, c in enumerate(labels):
            repeated = c in labels[:k] or c in labels[k + 1 :]
            shape.append(sizes[c] if repeated or not draw(st.booleans()) else 1)
        term = "".join(labels)
        if use_ell and draw(st.booleans()):
            n = draw(st.integers(0, len(ell_shape)))
            ell = [d if draw(st.booleans()) else 1 for d in ell_shape[len(ell_shape) - n :]]
            pos = draw(st.integers(0, len(labels)))
            term = term[:pos] + "..." + term[pos:]
            shape = shape[:pos] + ell + shape[pos:]
        terms.append(term)
        shapes.append(tuple(shape))
        dtypes.append(draw(st.sampled_from(DTYPES)))
    lhs = ",".join(terms)
    if draw(st.booleans()):
        subscripts = lhs
    else:
        used = sorted({c for t in terms for c in t if c.isalpha()})
        out = draw(st.permutations(used))[: draw(st.integers(0, len(used)))]
        out = "".join(out)
        if "..." in lhs or draw(st.booleans()):
            pos = draw(st.integers(0, len(out)))
            out = out[:pos] + "..." + out[pos:]
        subscripts = lhs + "->" + out
    return subscripts, shapes, dtypes


@settings(max_examples=100, deadline=None)
@given(equations())
def test_random_einsum_matches_numpy(eq):
    subscripts, shapes, dtypes = eq
    ops = [_operand(s, d) for s, d in zip(shapes, dtypes)]
    try:
        ref = np.einsum(subscripts, *ops)
    except ValueError:
        with pytest.raises(TensorcError):
            run_einsum(subscripts, *ops)
        return
    out = run_einsum(subscripts, *ops)
    assert out.shape == np.shape(ref) and out.dtype == np.asarray(ref).dtype
    if out.dtype.kind == "f":
        np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4)
    else:
        np.testing.assert_array_equal(out, ref)


@settings(max_examples=30, deadline=None)
@given(equations())
def test_random_einsum_chunking_invariant(eq):
    subscripts, shapes, _ = eq
    ops = [_operand(s, "float64") for s in shapes]
    d = einsum_def(subscripts, [o.shape for o in ops], ["float64"] * len(ops))
    args = {f"op{n}": o for n, o in enumerate(ops)}
    tiny = interpret(d, args, float64=True, max_chunk_bytes=1)["out"]
    np.testing.assert_allclose(tiny, np.einsum(subscripts, *ops), rtol=1e-12, atol=1e-12)
