"""The oracles are oracles: `loops` (LoopIR interpreter) and `interp` (TensorIR interpreter) agree
with numpy on every dtype, bfloat16 and float16 included; `interp` contracts long product chains
pairwise (a 60-index chain would need 2**61 points evaluated one by one)."""

from __future__ import annotations

import numpy as np
import pytest
import sympy

import tensorc
from tensorc.ir.interpreter import bf16_to_f32, f32_to_bf16, interpret
from tensorc.ir.tensor_ir import Access, Call, Def, Index, Range, Reduce, Statement, TensorDecl

torch = pytest.importorskip("torch")

EQUATIONS = [
    ("ij,jk->ik", [(3, 4), (4, 5)]),
    ("ij->", [(3, 4)]),
    ("i,i->", [(5,), (5,)]),
    ("ij->j", [(3, 4)]),
    ("ij->ji", [(3, 4)]),
    ("ii->i", [(3, 3)]),
    ("ii->", [(3, 3)]),
    ("ij,j->i", [(3, 4), (4,)]),
    ("i,j->ij", [(3,), (4,)]),
    ("bij,bjk->bik", [(2, 3, 4), (2, 4, 2)]),
    ("ab,bc,cd->ad", [(2, 3), (3, 4), (4, 2)]),
    ("ab,bc,cd->", [(2, 3), (3, 4), (4, 2)]),
    ("ijk,jk->i", [(2, 3, 4), (3, 4)]),
]
DTYPES = ["float16", "bfloat16", "float32", "float64", "int32", "int64", "int8"]


def _operand(shape, dtype: str, rng) -> object:
    """Small values, exactly representable in every dtype (no int overflow, exact fp16/bf16)."""
    if dtype.startswith("int"):
        return rng.integers(-2, 3, size=shape).astype(dtype)
    x = (rng.integers(-8, 9, size=shape) / 4).astype(np.float32)
    if dtype == "bfloat16":
        return torch.from_numpy(x).to(torch.bfloat16)
    return x.astype(dtype)


def _values(x) -> np.ndarray:
    return x.float().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


@pytest.mark.parametrize("backend", ["loops", "interp"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_oracles_match_numpy_on_every_dtype(backend, dtype):
    rng = np.random.default_rng(0)
    for eq, shapes in EQUATIONS:
        ops = [_operand(s, dtype, rng) for s in shapes]
        out = tensorc.einsum(eq, *ops, backend=backend)
        want = np.einsum(eq, *[_values(o).astype(np.float64) for o in ops])
        got = _values(out)
        assert got.shape == want.shape, (eq, dtype)
        if dtype == "bfloat16":
            assert isinstance(out, torch.Tensor) and out.dtype == torch.bfloat16
        else:
            assert got.dtype == np.dtype(dtype), (eq, dtype)
        # quarter-integers summed over <= 16 terms are exact in every dtype's accumulator; only
        # the final rounding to a 16-bit float may lose bits
        tol = {"bfloat16": 2**-7, "float16": 2**-10}.get(dtype, 0)
        np.testing.assert_allclose(got, want, rtol=tol, atol=0, err_msg=f"{eq} {dtype}")


def test_bfloat16_sum_rounds_once_at_the_store():
    """1 + 2**-9 is not a bfloat16: a stored sum rounds to 1, as the compiled kernel's does."""
    a = torch.tensor([1.0, 2**-9, 2**-9], dtype=torch.bfloat16)
    for backend in ("loops", "interp", "cpu"):
        out = tensorc.einsum("i->", a, backend=backend)
        assert out.dtype == torch.bfloat16 and out.float().item() == 1.0, backend


def test_bfloat16_bits_keep_the_shape_of_a_scalar():
    assert f32_to_bf16(np.float32(1.5)).shape == ()
    assert f32_to_bf16(np.array(1.5, np.float32)).shape == ()
    assert bf16_to_f32(f32_to_bf16(np.array([[1.5]], np.float32))).shape == (1, 1)


def _chain_def(n: int) -> Def:
    """out(i0, in) = sum(i1..i{n-1}: M0(i0, i1) * M1(i1, i2) * ... * M{n-1}(i{n-1}, in))."""
    two = sympy.Integer(2)
    idx = [f"i{k}" for k in range(n + 1)]
    inputs = tuple(TensorDecl(f"M{k}", "float64", (two, two), "input") for k in range(n))
    body = None
    for k in range(n):
        read = Access(f"M{k}", (Index(idx[k]), Index(idx[k + 1])), "float64")
        body = read if body is None else Call("mul", (body, read), "float64")
    ranges = tuple(Range(i, sympy.Integer(0), two) for i in idx[1:n])
    rhs = Reduce("sum", ranges, body, None, "float64", 0, None)
    out = TensorDecl("out", "float64", (two, two), "output")
    dom = (Range(idx[0], sympy.Integer(0), two), Range(idx[n], sympy.Integer(0), two))
    st = Statement("out", (idx[0], idx[n]), dom, rhs, None)
    return Def("chain", inputs, (out,), (), (st,))


def test_interp_contracts_a_60_index_chain_pairwise():
    n = 60
    rng = np.random.default_rng(1)
    mats = [rng.uniform(-1, 1, (2, 2)) for _ in range(n)]
    got = interpret(_chain_def(n), {f"M{k}": m for k, m in enumerate(mats)})["out"]
    want = np.linalg.multi_dot(mats)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-300)


def test_interp_contraction_repeats_a_sum_over_an_unread_index():
    """sum(j, k: x(i) * y(k)) with j read by no factor: each (i, k) term counts N_j times."""
    three, four = sympy.Integer(3), sympy.Integer(4)
    x = Access("x", (Index("i"),), "float32")
    y = Access("y", (Index("k"),), "float32")
    ranges = (Range("j", sympy.Integer(0), four), Range("k", sympy.Integer(0), three))
    rhs = Reduce("sum", ranges, Call("mul", (x, y), "float32"), None, "float32", 0, None)
    d = Def(
        "rep",
        tuple(TensorDecl(n, "float32", (three,), "input") for n in ("x", "y")),
        (TensorDecl("out", "float32", (three,), "output"),),
        (),
        (Statement("out", ("i",), (Range("i", sympy.Integer(0), three),), rhs, None),),
    )
    xv, yv = np.arange(3, dtype=np.float32), np.arange(1, 4, dtype=np.float32)
    np.testing.assert_array_equal(interpret(d, {"x": xv, "y": yv})["out"], 4 * xv * yv.sum())


def test_interp_einsum_of_a_60_matrix_chain():
    """Through tensorc.einsum (numpy's sublist form: any number of indices) on the oracle."""
    rng = np.random.default_rng(2)
    mats = [rng.uniform(-1, 1, (2, 2)) for _ in range(60)]
    operands = [x for k, m in enumerate(mats) for x in (m, [k, k + 1])]
    got = tensorc.einsum(*operands, [0, 60], backend="interp")
    np.testing.assert_allclose(got, np.linalg.multi_dot(mats), rtol=1e-10, atol=1e-300)
