"""The LoopIR interpreter on hand-written LoopIR, and the "loops" backend protocol."""

from __future__ import annotations

import numpy as np
import sympy
from tensorc.backends import get_backend

from tensorc.ir import loop_ir as L
from tensorc.ir.loop_interpreter import BACKEND, run_loops
from tensorc.ir.loop_printer import format_program

N = sympy.Symbol("N", integer=True, nonnegative=True)
F = "float32"


def _rowsum_prog(kind: str) -> L.LoopProgram:
    i, j = L.Var("i"), L.Var("j")
    body = (
        L.Loop("i", L.Const(0, "int64"), L.Var("N"), (
            L.Local("acc", F, (), L.Const(0.0, F)),
            L.Loop("j", L.Const(0, "int64"), L.Call("add", (i, L.Const(1, "int64")), "int64"), (
                L.If(L.Call("ne", (j, L.Const(2, "int64")), "bool"), (
                    L.Assign("acc", (), L.Call("add", (L.LocalRead("acc", (), F), L.Load("x", (i, j), F)), F)),
                )),
            ), kind="reduce"),
            L.Store("y", (i,), L.LocalRead("acc", (), F)),
        ), kind=kind),
    )  # fmt: skip
    bx = L.Buffer("x", F, (N, N), "input")
    by = L.Buffer("y", F, (N,), "output")
    k = L.Kernel("rowsum", (bx, by), ("N",), body)
    return L.LoopProgram("rowsum", (bx,), (by,), (), ("N",), (k,))


def test_triangular_masked_rowsum_parallel_and_serial():
    x = np.arange(25, dtype=np.float32).reshape(5, 5)
    want = np.array([sum(x[i, j] for j in range(i + 1) if j != 2) for i in range(5)])
    for kind in ("parallel", "serial", "vector"):
        y = np.zeros(5, np.float32)
        run_loops(_rowsum_prog(kind), {"x": x, "y": y}, {"N": 5})
        np.testing.assert_allclose(y, want)


def test_out_of_bounds_is_an_error():
    prog = _rowsum_prog("parallel")
    import pytest

    with pytest.raises(IndexError):
        run_loops(prog, {"x": np.zeros((3, 3), np.float32), "y": np.zeros(5, np.float32)}, {"N": 5})


def test_gemm_strided():
    a = np.random.default_rng(0).standard_normal((4, 3)).astype(F)
    c = np.zeros((4, 4), F)
    one, z = L.Const(1, "int64"), L.Const(0, "int64")
    g = L.Gemm(
        c=L.Operand("c", z, (z, L.Const(4, "int64"), one)),
        a=L.Operand("a", z, (z, L.Const(3, "int64"), one)),
        b=L.Operand("a", z, (z, one, L.Const(3, "int64"))),
        batch=one, m=L.Const(4, "int64"), n=L.Const(4, "int64"), k=L.Const(3, "int64"),
        alpha=L.Const(2.0, F),
    )  # fmt: skip
    k = L.Kernel("g", (), (), (g,))
    prog = L.LoopProgram("g", (), (), (), (), (k,))
    run_loops(prog, {"a": a, "c": c}, {})
    np.testing.assert_allclose(c, 2 * a @ a.T, rtol=1e-5)


def test_backend_protocol():
    assert get_backend("loops") is BACKEND
    prog = _rowsum_prog("parallel")
    assert BACKEND.available() and BACKEND.target() == "numpy" and BACKEND.hash().startswith("numpy-")
    assert BACKEND.space(prog) == [{}]
    text = BACKEND.render(prog, {})
    assert text == format_program(prog) and "parallel for i in [0, N)" in text
    exe = BACKEND.load(BACKEND.build(text, prog, {}), prog, {})
    x = np.ones((3, 3), np.float32)
    y = np.zeros(3, np.float32)
    exe({"x": x, "y": y}, {"N": 3})
    np.testing.assert_allclose(y, [1, 2, 2])


def test_printer_is_deterministic():
    assert format_program(_rowsum_prog("parallel")) == format_program(_rowsum_prog("parallel"))
