"""collapse_parallel: a kernel's parallel nest over small specialised batch loops becomes one
parallel loop that every thread shares (tensorc/schedule/parallel.py; issue 11, item 4)."""

from __future__ import annotations

import numpy as np
import pytest
from support import require_backend

import tensorc
from tensorc.frontend import parse_program
from tensorc.ir import loop_ir as L
from tensorc.pipeline import to_loops

SOURCE = """
def feature_map(float(B,H,N,D) q) -> (p) {
    p(b,h,i,d) = relu(q(b,h,i,d))
}
def head_sums(float(B,H,N,D) q) -> (s) {
    s(b,h,d) = sum(i: q(b,h,i,d))
}
"""
PROGRAM = parse_program(SOURCE)


def _top_loop(prog: L.LoopProgram) -> L.Loop:
    (k,) = prog.kernels
    (loop,) = [s for s in k.body if isinstance(s, L.Loop)]
    return loop


@pytest.mark.parametrize(
    "sizes", [{"B": 1, "H": 4, "N": 100, "D": 32}, {"B": 2, "H": 3, "N": 50, "D": 32}]
)
def test_batch_heads_and_rows_share_one_parallel_loop(sizes):
    loop = _top_loop(to_loops(PROGRAM.get("feature_map"), "cpu", sizes))
    assert loop.kind == "parallel" and isinstance(loop.body[-1], L.Loop)
    assert loop.body[-1].kind == "vector"  # b, h and i are lets of the one parallel loop
    assert {s.name for s in loop.body if isinstance(s, L.Let)} >= {"b", "h", "i"}


def test_big_or_symbolic_outer_loops_stay():
    loop = _top_loop(
        to_loops(PROGRAM.get("feature_map"), "cpu", {"B": 100, "H": 20, "N": 5, "D": 3})
    )
    assert loop.var == "b"
    assert _top_loop(to_loops(PROGRAM.get("feature_map"), "cpu", None)).var == "b"
    gpu = to_loops(PROGRAM.get("feature_map"), "gpu", {"B": 1, "H": 4, "N": 100, "D": 32})
    assert _top_loop(gpu).var == "b"  # Triton maps the nest onto its grid itself


@pytest.mark.parametrize("backend", ["loops", "cpu"])
def test_collapsed_kernels_compute_the_same(backend):
    require_backend(backend)
    mod = tensorc.compile(SOURCE, backend=backend)
    q = np.random.default_rng(0).standard_normal((1, 3, 17, 5)).astype(np.float32)
    np.testing.assert_array_equal(mod.feature_map(q), np.maximum(q, 0))
    np.testing.assert_allclose(mod.head_sums(q), q.sum(2), rtol=1e-5, atol=1e-5)


SPLIT = """
def row_sums(float(B,H,M) x) -> (t) {
    t(b,h) = sum(j: x(b,h,j))
}
def wide_sums(float(B,H,M,E) v) -> (o) {
    o(b,h,e) = sum(j: v(b,h,j,e))
}
def lse_rows(float(B,H,N,D) q, float(B,H,N,D) k) -> (l) {
    l(b,h,i) = logsumexp(j: sum(d: q(b,h,i,d) * k(b,h,j,d)))
}
"""


def _parts(prog: L.LoopProgram) -> list[L.Buffer]:
    return [b for b in prog.temps if b.name.startswith("part_")]


@pytest.mark.parametrize(("b", "h", "chunks"), [(1, 1, 64), (2, 8, 64), (2, 16, 64)])
def test_split_j_small_partials_take_every_chunk(b, h, chunks):
    """Few rows: partial buffers are tiny, and short chunks stream better (W6's column sum)."""
    prog = to_loops(parse_program(SPLIT).get("row_sums"), "cpu", {"B": b, "H": h, "M": 1 << 16})
    (part,) = _parts(prog)
    assert int(part.shape[0]) == chunks


@pytest.mark.parametrize(("e", "split"), [(64, True), (1 << 14, False)])
def test_split_j_counts_long_vector_rows_as_row_blocks(e, split):
    """b x h = 16 units: a short innermost vector loop (W6's d = 64) is one unit's work, so the
    sum over j splits (64 chunks: the partials are small); a long one (e = 16384) is split into
    row blocks across the threads instead, and no 64 x rows partial buffer is allocated."""
    sizes = {"B": 2, "H": 8, "M": 4096, "E": e}
    parts = _parts(to_loops(parse_program(SPLIT).get("wide_sums"), "cpu", sizes))
    assert [int(p.shape[0]) for p in parts] == ([64] if split else [])


def test_split_j_counts_batch_heads_and_row_blocks():
    sizes = {"B": 2, "H": 8, "N": 4096, "D": 64}
    prog = to_loops(parse_program(SPLIT).get("lse_rows"), "cpu", sizes)
    assert _parts(prog) == []  # 2 x 8 x row blocks of 4096 rows feed every thread: no split
