"""`tensorc.einsum` / `tensorc.einsum_path` follow numpy's signature: lists and scalars, out=,
dtype=, casting=, order=, optimize=, the interleaved form, any number of indices; errors are the
builtin kinds numpy users catch."""

from __future__ import annotations

import string

import numpy as np
import pytest
from hypothesis import given, settings
from test_einsum import _operand, equations

import tensorc
from tensorc import errors

rng = np.random.default_rng(3)


def f64(*shape):
    return rng.standard_normal(shape)


def test_lists_tuples_and_scalars():
    got = tensorc.einsum("i,i", [1, 2], [3, 4], backend="interp")
    assert got == 11 and np.asarray(got).dtype == np.int64
    got = tensorc.einsum("ij,j->i", ((1.0, 2.0), (3.0, 4.0)), [1, 1], backend="interp")
    np.testing.assert_array_equal(got, [3.0, 7.0])
    x = f64(3)
    np.testing.assert_allclose(tensorc.einsum(",i", 2.0, x, backend="interp"), 2 * x)
    got = tensorc.einsum(",i->i", np.float32(2), x.astype(np.float32), backend="interp")
    assert got.dtype == np.float32
    assert tensorc.einsum(",", 3, 4, backend="interp") == 12
    with pytest.raises(ValueError, match="operand 1"):
        tensorc.einsum("i,i", [1, 2], [[1, 2], [3]], backend="interp")
    with pytest.raises(TypeError, match="operand 0: unsupported dtype complex128"):
        tensorc.einsum("i", [1j], backend="interp")
    with pytest.raises(TypeError, match="operand 0: expected an array"):
        tensorc.einsum("i", {"a": 1}, backend="interp")


@pytest.mark.parametrize("optimize", ["auto", "greedy"])
def test_out(optimize):
    a, b, c = f64(2, 3), f64(3, 4), f64(4, 5)
    out = np.full((2, 5), np.nan)
    got = tensorc.einsum("ij,jk,kl->il", a, b, c, out=out, optimize=optimize, backend="interp")
    assert got is out
    np.testing.assert_allclose(out, a @ b @ c)
    total = np.empty(())
    assert tensorc.einsum("i,i->", a[0], a[0], out=total, backend="interp") is total
    np.testing.assert_allclose(total, a[0] @ a[0])
    wide = np.empty(2)  # float32 in, float64 out: a safe cast, computed in float64 like numpy
    got = tensorc.einsum("ij->i", a.astype(np.float32), out=wide, backend="interp")
    np.testing.assert_allclose(got, a.astype(np.float32).sum(1), rtol=1e-6)
    with pytest.raises(TypeError, match="out= has dtype float32; the result is float64"):
        tensorc.einsum("ij->i", a, out=np.empty(2, np.float32), backend="interp")
    with pytest.raises(ValueError, match=r"expected shape \(2,\), got \(3,\)"):
        tensorc.einsum("ij->i", a, out=np.empty(3), backend="interp")
    sq = f64(3, 3)
    with pytest.raises(ValueError, match="shares memory with input 'op0'"):
        tensorc.einsum("ij->ji", sq, out=sq, backend="interp")


def test_out_on_cpu_writes_in_place():
    a, b = f64(3, 4), f64(4, 2)
    out = np.full((3, 2), np.nan)
    assert tensorc.einsum("ij,jk", a, b, out=out) is out
    np.testing.assert_allclose(out, a @ b)


def test_dtype_and_casting():
    a32, b32 = f64(2, 3).astype(np.float32), f64(3, 2).astype(np.float32)
    got = tensorc.einsum("ij,jk", a32, b32, dtype=np.float64, backend="interp")
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, np.einsum("ij,jk", a32, b32, dtype=np.float64))
    ints = np.arange(6, dtype=np.int16).reshape(2, 3)
    got = tensorc.einsum("ij->j", ints, dtype="float32", backend="interp")
    assert got.dtype == np.float32 and np.array_equal(got, ints.sum(0))
    a, b = f64(2, 3), f64(3, 2)
    with pytest.raises(TypeError, match="casting='safe' does not convert to dtype=float32"):
        tensorc.einsum("ij,jk", a, b, dtype=np.float32, backend="interp")
    np.testing.assert_raises(TypeError, np.einsum, "ij,jk", a, b, dtype=np.float32)  # numpy too
    got = tensorc.einsum("ij,jk", a, b, dtype=np.float32, casting="unsafe", backend="interp")
    ref = np.einsum("ij,jk", a, b, dtype=np.float32, casting="unsafe")
    assert got.dtype == ref.dtype
    np.testing.assert_allclose(got, ref, rtol=1e-6)
    with pytest.raises(ValueError, match="casting='bogus'"):
        tensorc.einsum("ij", a, casting="bogus")
    with pytest.raises(TypeError, match="dtype= 'float7' is not a supported dtype"):
        tensorc.einsum("ij", a, dtype="float7")


def test_order():
    a, b = f64(3, 4), f64(4, 2)
    assert tensorc.einsum("ij,jk", a, b, order="F", backend="interp").flags.f_contiguous
    assert tensorc.einsum("ij,jk", a, b, order="C", backend="interp").flags.c_contiguous
    with pytest.raises(ValueError, match="order='X'"):
        tensorc.einsum("ij,jk", a, b, order="X")


CHAIN = "ea,fb,abcd,gc,hd->efgh"


def _chain_ops():
    sizes = dict(zip("abcdefgh", (3, 2, 4, 2, 3, 2, 3, 2)))
    return [f64(*(sizes[c] for c in t)) for t in CHAIN.split("->")[0].split(",")]


@pytest.mark.parametrize(
    "optimize",
    [
        True,
        False,
        "greedy",
        "optimal",
        "dp",
        "branch-2",
        "random-greedy",
        ("greedy", 10**6),
        ["einsum_path", (0, 2), (0, 3), (0, 2), (0, 1)],
        [(1, 3), (0, 1, 2), (0, 1)],
    ],
    ids=str,
)
def test_optimize(optimize):
    ops = _chain_ops()
    got = tensorc.einsum(CHAIN, *ops, optimize=optimize, backend="interp")
    np.testing.assert_allclose(got, np.einsum(CHAIN, *ops), rtol=1e-10, atol=1e-12)


def test_optimize_errors():
    ops = _chain_ops()
    with pytest.raises(ValueError, match="unknown optimize strategy 'fastest'"):
        tensorc.einsum(CHAIN, *ops, optimize="fastest")
    with pytest.raises(ValueError, match="leaves 2 operands"):
        tensorc.einsum(CHAIN, *ops, optimize=["einsum_path", (0, 1), (0, 1), (0, 1)])
    with pytest.raises(ValueError, match=r"entry 1 \(0, 4\) names a position twice or outside"):
        tensorc.einsum(CHAIN, *ops, optimize=[(0, 1), (0, 4), (0, 1), (0, 1)])
    with pytest.raises(TypeError, match="must be a tuple of operand positions"):
        tensorc.einsum(CHAIN, *ops, optimize=[(0, 1), "x"])
    with pytest.raises(TypeError, match="optimize= must be a bool"):
        tensorc.einsum(CHAIN, *ops, optimize=3.5)
    tensorc.einsum(CHAIN, *ops, optimize=True, backend="interp")  # remembered: 1 == True
    with pytest.raises(TypeError, match="optimize= must be a bool"):
        tensorc.einsum(CHAIN, *ops, optimize=1, backend="interp")


def test_einsum_path_like_numpy():
    a, b, c = f64(2, 3), f64(3, 4), f64(4, 5)
    path, text = tensorc.einsum_path("ij,jk,kl->il", a, b, c, optimize="greedy")
    assert path == np.einsum_path("ij,jk,kl->il", a, b, c, optimize="greedy")[0]
    assert path == ["einsum_path", (1, 2), (0, 1)]
    for line in (
        "Complete contraction:  ij,jk,kl->il",
        "Naive scaling:  4",
        "Optimized scaling:  3",
        "Largest intermediate:  1.500e+01 elements",
        "jk,kl->jl",
        "ij,jl->il",
    ):
        assert line in text
    ops = _chain_ops()
    for opt in ("auto", "optimal", "greedy", False):
        path, _ = tensorc.einsum_path(CHAIN, *ops, optimize=opt)
        assert path[0] == "einsum_path" and len(path) == 5  # four pairwise steps
        got = tensorc.einsum(CHAIN, *ops, optimize=path, backend="interp")  # passes back
        np.testing.assert_allclose(got, np.einsum(CHAIN, *ops), rtol=1e-10, atol=1e-12)
    assert tensorc.einsum_path("ii->i", f64(3, 3))[0] == ["einsum_path", (0,)]
    text = tensorc.einsum_path("...ij,...jk", f64(2, 3, 4), f64(4, 5))[1]
    assert "Complete contraction:  " in text and "->" in text


def test_interleaved_form():
    a, b = f64(2, 3), f64(3, 4)
    for args in [
        (a, [0, 1], b, [1, 2], [0, 2]),
        (a, [0, 1], b, [1, 2]),
        (a, [0, 1], [1, 0]),
        (a, [Ellipsis, 1], [Ellipsis]),
        (a, [0, 26]),
        (a, [26, 0]),
        (f64(3, 3), [5, 5]),
    ]:
        got = tensorc.einsum(*args, backend="interp")
        np.testing.assert_allclose(got, np.einsum(*args), rtol=1e-10, atol=1e-12)
    with pytest.raises(TypeError, match="each label must be an int or Ellipsis, got str 'a'"):
        tensorc.einsum(a, ["a", "b"])
    with pytest.raises(ValueError, match="label -1 is negative"):
        tensorc.einsum(a, [0, -1])
    with pytest.raises(ValueError, match="has no '...'"):  # numpy: ValueError too
        tensorc.einsum(a, [Ellipsis, 1], [1])


def _chain(n):
    """A chain of n 2x2 matrices sharing n + 1 distinct indices, and its product."""
    ops = [f64(2, 2) / 2 for _ in range(n)]
    ref = ops[0]
    for m in ops[1:]:
        ref = ref @ m
    return ops, ref


def test_52_letter_chain():
    """All 52 letters (51 operands) on the interpreter, step by step and as one def (the fused
    program on the cpu backend: test_more_than_52_indices)."""
    letters = string.ascii_letters
    ops, ref = _chain(51)
    eq = ",".join(letters[k] + letters[k + 1] for k in range(51)) + "->" + letters[0] + letters[51]
    got = tensorc.einsum(eq, *ops, optimize="greedy", backend="interp")
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-12)
    got = tensorc.einsum(eq, *ops, backend="interp")  # one def; the oracle contracts pairwise
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-12)
    path, text = tensorc.einsum_path(eq, *ops, optimize="greedy")
    assert len(path) == 51 and f"Complete contraction:  {eq}" in text


def test_more_than_52_indices():
    """numpy stops at 52 labels; integer sublists go on (54 indices, 53 operands): one program
    on the default (cpu) backend, where planning named indices by letter (IndexError past 52),
    and step by step on the interpreter."""
    ops, ref = _chain(53)
    args = [x for k, op in enumerate(ops) for x in (op, [k, k + 1])] + [[0, 53]]
    np.testing.assert_allclose(tensorc.einsum(*args), ref, rtol=1e-9, atol=1e-12)
    got = tensorc.einsum(*args, optimize="greedy", backend="interp")
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-12)


def test_errors_are_value_and_type_errors():
    a = f64(2, 3)
    for bad in [("ij->ii", a), ("ij,jk", a, f64(4, 5)), ("ij,jk", a), ("i1", a), ("ij", f64(2))]:
        with pytest.raises(ValueError):
            tensorc.einsum(*bad, backend="interp")
        with pytest.raises(ValueError):
            np.einsum(*bad)  # the same kind numpy raises
    with pytest.raises(TypeError):
        tensorc.einsum("ij", object(), backend="interp")
    with pytest.raises(ValueError):
        tensorc.einsum("ij", a, backend="gpu9")  # unknown backend
    for kw in ({}, {"optimize": True}, {"dtype": "float32"}):
        with pytest.raises(ValueError, match="operand"):
            tensorc.einsum("ij", **kw)
    with pytest.raises(ValueError, match="no operands"):
        tensorc.einsum_path("ij")


# the builtin each catalog class also is (str(err) unchanged: the formatted message)
KINDS = {
    errors.SyntaxError_: ValueError,
    errors.NameError_: NameError,
    errors.ShapeError: ValueError,
    errors.RangeError: ValueError,
    errors.TypeError_: TypeError,
    errors.StatementError: ValueError,
    errors.ArgumentTypeError: TypeError,
    errors.ArgumentShapeError: ValueError,
    errors.ArgumentValueError: ValueError,
    errors.BackendError: ValueError,
    errors.UnsupportedError: NotImplementedError,
    errors.ScheduleError: ValueError,
}


@pytest.mark.parametrize("cls", list(KINDS), ids=lambda c: c.__name__)
def test_catalog_builtin_kinds(cls):
    err = cls("something is off", hint="do this")
    assert isinstance(err, errors.TensorcError) and isinstance(err, KINDS[cls])
    assert str(err) == "error: something is off\nhint: do this"
    other = {ValueError, TypeError, NameError, NotImplementedError} - {KINDS[cls]}
    assert not any(isinstance(err, k) for k in other)


def test_every_catalog_class_has_a_kind():
    classes = {
        v
        for v in vars(errors).values()
        if isinstance(v, type) and issubclass(v, errors.TensorcError)
    }
    neutral = {errors.TensorcError, errors.ErrorGroup, errors.ArgumentError}  # mixed kinds
    assert classes - neutral == set(KINDS)


@pytest.mark.parametrize("optimize", ["auto", True, False])
def test_operands_are_cast_to_the_result_dtype_first(optimize):
    """numpy casts every operand to the result dtype before multiplying: int8 * int8 steps of a
    path with a float32 operand must not wrap in int8."""
    a, b = np.full(40, 100, np.int8), np.ones(40, np.float32)
    got = tensorc.einsum("i,i,i->", a, a, b, optimize=optimize, backend="interp")
    assert got == np.einsum("i,i,i->", a, a, b) == 400000.0


@settings(max_examples=40, deadline=None)
@given(equations())
def test_random_interleaved_form_matches_numpy(eq):
    """Random equations (test_einsum.equations) in numpy's interleaved form: letters become ints
    (so the implicit output sorts numerically, as numpy's sublists do)."""
    subscripts, shapes, dtypes = eq
    ops = [_operand(s, d) for s, d in zip(shapes, dtypes)]
    code = {c: k for k, c in enumerate("abcdeAB")}

    def sublist(term):
        return [Ellipsis if t == "." else code[t] for t in term.replace("...", ".")]

    lhs, arrow, rhs = subscripts.partition("->")
    args = [x for op, t in zip(ops, lhs.split(",")) for x in (op, sublist(t))]
    args += [sublist(rhs)] if arrow else []
    try:
        ref = np.einsum(*args)
    except ValueError:
        with pytest.raises(ValueError):
            tensorc.einsum(*args, backend="interp")
        return
    got = tensorc.einsum(*args, backend="interp")
    assert np.shape(got) == np.shape(ref) and np.asarray(got).dtype == np.asarray(ref).dtype
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)
