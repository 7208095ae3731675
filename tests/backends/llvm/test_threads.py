"""The cpu driver (backends/llvm/driver.py): every kernel of a program in one native call per
thread, chunks claimed from shared counters. Results must match numpy for any thread count, be
the same bits for 1, 2 and 3 threads and on repeated calls, and not depend on which threads show
up: one thread alone finishes a call made for three, and a thread arriving after the end does
nothing."""

from __future__ import annotations

import numpy as np
import pytest
import sympy
from tensorc.backends.llvm.backend import BACKEND
from tensorc.backends.llvm.driver import LINE, chunks_per_thread

import tensorc
from tensorc.passes import to_loops

TUCKER = """
def tucker_core(float(I,J,K) T, float(I,R) U1, float(J,S) U2, float(K,P) U3) -> (G) {
    G(a,b,c) = T(i,j,k) * U1(i,a) * U2(j,b) * U3(k,c)
}
"""
CHAIN = """
def chain(float(P,X) A1, float(X,P,X) A2, float(X,P,X) A3, float(X,P) A4) -> (z) {
    z() = A1(p1,a1) * A2(a1,p2,a2) * A3(a2,p3,a3) * A4(a3,p4) * A1(p1,b1) * A2(b1,p2,b2) * A3(b2,p3,b3) * A4(b3,p4)
}
"""
CASES = {  # several kernels (edges off every block size), all sizes 1, an empty sum, no rows
    "tucker": (TUCKER, "ijk,ia,jb,kc->abc", {"I": 67, "J": 61, "K": 37, "R": 13, "S": 5, "P": 17}),
    "tucker-one": (TUCKER, "ijk,ia,jb,kc->abc", dict.fromkeys("IJKRSP", 1)),
    "tucker-empty-sum": (TUCKER, "ijk,ia,jb,kc->abc", {"I": 0, "J": 3, "K": 2, "R": 5, "S": 1, "P": 7}),
    "tucker-no-rows": (TUCKER, "ijk,ia,jb,kc->abc", {"I": 3, "J": 3, "K": 2, "R": 0, "S": 1, "P": 7}),
    "chain": (CHAIN, "ab,bcd,def,fg,ah,hci,iej,jg->", {"P": 5, "X": 53}),
}


def _dim(d, sizes) -> int:
    d = sympy.sympify(d)
    return int(d.subs({s: sizes[str(s)] for s in d.free_symbols}))


def _setup(case: str, seed: int = 0):
    src, eq, sizes = CASES[case]
    def_ = tensorc.compile(src, backend="interp")[src.split()[1].split("(")[0]].def_
    prog = to_loops(def_, "cpu", sizes)
    rng = np.random.default_rng(seed)
    inputs = {b.name: rng.standard_normal([_dim(d, sizes) for d in b.shape]).astype(np.float32)
              for b in prog.inputs}
    order = [d.name for d in def_.inputs]
    names = [n for n in order if n in inputs]
    ops = [inputs[n] for n in names]
    if case == "chain":  # the chain reads A1..A4 twice (bra and ket)
        ops = ops + ops
    want = np.einsum(eq, *[o.astype(np.float64) for o in ops], optimize=True)
    return prog, inputs, sizes, want


def _buffers(prog, inputs, sizes):
    out = dict(inputs)
    for k in prog.kernels:
        for b in k.buffers:
            if b.name not in out:
                out[b.name] = np.full([_dim(d, sizes) for d in b.shape], np.nan, np.float32)
    return out


def _output(prog, bufs):
    (out,) = [b.name for b in prog.outputs]
    return bufs[out].copy()


@pytest.mark.parametrize("case", sorted(CASES))
def test_same_bits_for_any_thread_count_and_repeated_calls(case):
    prog, inputs, sizes, want = _setup(case)
    assert len(prog.kernels) >= 2 or case != "tucker" and case != "chain"
    results = []
    for threads in (1, 2, 3):
        exe = BACKEND.compile(prog, {"threads": threads})
        for _ in range(3):
            bufs = _buffers(prog, inputs, sizes)
            exe(bufs, sizes)
            results.append(_output(prog, bufs))
    np.testing.assert_allclose(results[0], want, rtol=1e-4, atol=1e-4 * np.abs(want).max(initial=1))
    for r in results[1:]:
        assert r.tobytes() == results[0].tobytes()


def test_big_tucker_kernels_are_split():
    prog, *_ = _setup("tucker")
    assert sum(chunks_per_thread(k) > 0 for k in prog.kernels) >= 2


def _driver_call(exe, bufs, sizes, state, threads):
    slots = [bufs[b].ctypes.data for b in exe.buffers] + [sizes.get(s, 0) for s in exe.sizes]
    args = np.array(slots, dtype=np.int64)
    exe.run(args.ctypes.data, state.ctypes.data, threads)


def test_one_thread_finishes_a_call_made_for_three_and_late_threads_do_nothing():
    prog, inputs, sizes, want = _setup("tucker", seed=1)
    exe = BACKEND.compile(prog, {"threads": 3})
    bufs = _buffers(prog, inputs, sizes)
    state = np.zeros(2 * LINE * len(prog.kernels), np.int64)
    _driver_call(exe, bufs, sizes, state, 3)  # no helper ever comes: this thread runs every chunk
    got = _output(prog, bufs)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
    done = state[LINE :: 2 * LINE]
    assert list(done) == [3 * chunks_per_thread(k) or 1 for k in prog.kernels]
    for b in bufs.values():
        b[...] = 0
    _driver_call(exe, bufs, sizes, state, 3)  # a helper arriving after the end: nothing to claim
    assert not _output(prog, bufs).any()


def test_concurrent_calls_from_python_threads():
    from concurrent.futures import ThreadPoolExecutor

    prog, inputs, sizes, want = _setup("tucker", seed=2)
    exe = BACKEND.compile(prog, {"threads": 2})

    def one(_):
        bufs = _buffers(prog, inputs, sizes)
        exe(bufs, sizes)
        return _output(prog, bufs).tobytes()

    with ThreadPoolExecutor(4) as pool:
        got = set(pool.map(one, range(16)))
    assert len(got) == 1
    arr = np.frombuffer(got.pop(), np.float32).reshape(want.shape)
    np.testing.assert_allclose(arr, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


def test_forked_child_calls_with_threads():
    """After fork the parent's helper threads do not exist in the child: calls there still
    finish (new helpers are started, and nothing waits on a helper)."""
    import multiprocessing

    prog, inputs, sizes, want = _setup("tucker", seed=3)
    exe = BACKEND.compile(prog, {"threads": 2})
    exe(_buffers(prog, inputs, sizes), sizes)  # the helper threads exist before the fork
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()

    def child():
        bufs = _buffers(prog, inputs, sizes)
        exe(bufs, sizes)
        queue.put(_output(prog, bufs))

    proc = ctx.Process(target=child)
    proc.start()
    got = queue.get(timeout=120)
    proc.join(timeout=60)
    assert proc.exitcode == 0
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
