"""`Copy` (a tile between strided views) through the Triton backend (TRITON_INTERPRET=1): a
transposed destination of another dtype, and a plain block inside a larger output."""

from __future__ import annotations

import numpy as np
import pytest
from triton_loops import C, Prog, V, buf, mul, run

from tensorc.ir import loop_ir as L


def _view(name, offset, row_stride, col_stride) -> L.Operand:
    return L.Operand(name, offset, (C(0), row_stride, col_stride))


@pytest.mark.parametrize(("r", "c"), [(1, 1), (7, 5), (33, 40)])
def test_transposed_copy_with_conversion(r, c):
    P = Prog(buf("A", "float32", ["R", "Cc"], "input"), buf("B", "float64", ["Cc", "R"], "output"),
             sizes=("R", "Cc"))  # fmt: skip
    copy = L.Copy(_view("B", C(0), C(1), V("R")), _view("A", C(0), V("Cc"), C(1)), V("R"), V("Cc"),
                  stream=True)  # fmt: skip
    a = np.random.default_rng(r).standard_normal((r, c)).astype(np.float32)
    out = run(P.program(copy), {"A": a}, {"R": r, "Cc": c})["B"]
    np.testing.assert_array_equal(out, a.T.astype(np.float64))


def test_block_inside_a_larger_output():
    P = Prog(buf("A", "float32", ["N", "N"], "input"), buf("B", "float32", ["N", "N"], "output"))
    n = 9  # rows 2..6, columns 3..7 of B from the top-left of A
    copy = L.Copy(_view("B", C(2 * n + 3), V("N"), C(1)), _view("A", C(0), V("N"), C(1)), C(5),
                  mul(C(5), C(1)))  # fmt: skip
    a = np.arange(n * n, dtype=np.float32).reshape(n, n)
    want = np.zeros((n, n), np.float32)
    want[2:7, 3:8] = a[:5, :5]
    np.testing.assert_array_equal(run(P.program(copy), {"A": a}, {"N": n})["B"], want)
