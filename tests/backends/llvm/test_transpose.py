"""`Copy` statements on the cpu backend (backends/llvm/transpose.py) and the LoopIR interpreter,
against numpy strided assignment: plain rows, transposed destinations (in-register blocks, whole
cache lines streamed), any other strides, at every alignment of the destination (the vector paths
start at 16- and 64-byte boundaries, scalars before and after), mixed dtypes, a local source."""

from __future__ import annotations

import numpy as np
import pytest
from loopbuild import V, assign, buf, ld, local, loop, program

from tensorc.ir import loop_ir as L
from tensorc.ir.loop_interpreter import run_loops

pytest.importorskip("llvmlite")
from tensorc.backends.llvm.backend import BACKEND

VIEW = ("OFF", "SR", "SC")  # destination view, as sizes: one compiled program for every case
SRC_VIEW = ("SOFF", "SSR", "SSC")
SIZES = ("LD", "LS", "R", "C", *VIEW, *SRC_VIEW)


def _program(dst_dt: str, src_dt: str, stream: bool, via_local: bool) -> L.LoopProgram:
    a = buf("A", src_dt, ("LS",))
    b = buf("B", dst_dt, ("LD",), "output")
    src = "T" if via_local else "A"
    body = []
    if via_local:  # the Gram kernel copies from its scratch tile
        body += [local("T", src_dt, (V("LS"),)),
                 loop("i", 0, V("LS"), [assign("T", [V("i")], ld("A", [V("i")], src_dt))],
                      kind="vector")]
    operand = lambda name, view, is_local=False: L.Operand(
        name, V(view[0]), (L.Const(0, "int64"), V(view[1]), V(view[2])), local=is_local)
    body.append(L.Copy(operand("B", VIEW), operand(src, SRC_VIEW, via_local), V("R"), V("C"),
                       stream))
    return program("copy", [a], [b], list(SIZES), body)


def _case(rng, dst_dt, src_dt, rows, cols, transposed, shift, ld_extra=0):
    """(sizes, src, dst-before, expected dst); the destination starts `shift` elements past an
    allocation's start, so its vector paths begin at every offset."""
    ssr = cols + 3
    src = rng.standard_normal(rows * ssr + 5).astype(src_dt)
    lead = 72 + ld_extra  # destination row length (>= rows and cols: no overlap)
    off = shift
    sr, sc = (1, lead) if transposed else (lead, 1)
    n = off + (cols if transposed else rows) * lead + 8
    dst = np.full(n, -7, dst_dt)
    want = dst.copy()
    if rows and cols:
        view = np.lib.stride_tricks.as_strided(
            want[off:], (rows, cols), (sr * want.itemsize, sc * want.itemsize))
        view[...] = src[2: 2 + rows * ssr].reshape(rows, ssr)[:, :cols]
    sizes = {"LD": n, "LS": src.size, "R": rows, "C": cols, "OFF": off, "SR": sr, "SC": sc,
             "SOFF": 2, "SSR": ssr, "SSC": 1}
    return sizes, src, dst, want


def _unaligned(a: np.ndarray, shift_bytes: int) -> np.ndarray:
    """A copy of `a` whose data starts `shift_bytes` past a 64-byte boundary."""
    raw = np.zeros(a.nbytes + 128, np.uint8)
    start = (-raw.ctypes.data) % 64 + shift_bytes
    out = raw[start: start + a.nbytes].view(a.dtype)
    out[...] = a
    return out


CASES = [(r, c) for r, c in ((0, 5), (5, 0), (1, 1), (3, 4), (4, 4), (5, 17), (16, 16), (37, 9),
                             (70, 33))]


@pytest.mark.parametrize(("dst_dt", "src_dt", "via_local", "stream"), [
    ("float32", "float32", True, True), ("float32", "float32", True, False),
    ("float64", "float64", True, True), ("float32", "float32", False, True),
    ("float64", "float32", False, True), ("float16", "float32", True, False),
])  # fmt: skip
def test_copy_matches_numpy(dst_dt, src_dt, via_local, stream):
    prog = _program(dst_dt, src_dt, stream, via_local)
    exe = BACKEND.compile(prog, {"threads": 1})
    rng = np.random.default_rng(0)
    for rows, cols in CASES:
        for transposed in (False, True):
            for shift, ld_extra in ((0, 0), (1, 0), (3, 0), (5, 0), (0, 3), (2, 1)):
                sizes, src, dst, want = _case(rng, dst_dt, src_dt, rows, cols, transposed, shift,
                                              ld_extra)  # fmt: skip
                out = _unaligned(dst, 4 * (shift % 3))  # odd shifts: not even element-aligned
                exe({"A": src, "B": out}, sizes)
                np.testing.assert_array_equal(out, want, err_msg=f"{rows}x{cols} {sizes}")
                if rows * cols and shift == 0:  # the interpreter's meaning of Copy, same case
                    mine = dst.copy()
                    run_loops(prog, {"A": src, "B": mine}, sizes)
                    np.testing.assert_array_equal(mine, want)


def test_streaming_stores_and_register_transposes_are_emitted():
    from tensorc.backends.llvm import build

    asm = build.target_machine().emit_assembly(
        build.optimize(BACKEND.render(_program("float32", "float32", True, True))))
    if "x86" not in build.target_machine().triple:
        pytest.skip("instruction names checked on x86 only")
    assert "movntps" in asm and "unpcklps" in asm and "sfence" in asm
