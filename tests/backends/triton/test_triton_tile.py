"""The tile and flash-attention fast paths (backends/triton/tile.py) under TRITON_INTERPRET=1.

Workloads go through the real front end and `to_loops(target="gpu")`, are rendered with small
blocks (so 7, 13, 33, 37 are non-multiples and several tiles run), and are compared with the
reference interpreter; each test also checks which path rendered the streaming kernel.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from tensorc.backends.triton.program import render_program
from tensorc.backends.triton.values import DEFAULT_CONFIG
from triton_loops import run

import tensorc
from tensorc.passes import run_pipeline
from tensorc.schedule import default_schedule, lower

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

SMALL = {"TILE_BLOCK_I": 16, "TILE_BLOCK_J": 16, "FLASH_BLOCK_I": 16, "FLASH_BLOCK_J": 16,
         "OUT_BLOCK_I": 16, "OUT_BLOCK_J": 16}  # fmt: skip
TILE, FLASH, GENERIC = "# path: 2-D tile", "# path: flash attention", "# path: generic"
OUT_TILES = "# path: 2-D output tiles"
RNG = np.random.default_rng(5)

KSUM = """
def gauss_ksum(float(N,D) x, float(M,D) y, float(M,E) b, float sigma) -> (out) {
    out(i,e) = exp(-sum(d: (x(i,d) - y(j,d)) * (x(i,d) - y(j,d))) / (2 * sigma * sigma)) * b(j,e)
}
def nn(float(N,D) x, float(M,D) y) -> (idx) {
    idx(i) = argmin(j: sum(d: (x(i,d) - y(j,d)) * (x(i,d) - y(j,d))))
}
def far(float(N,D) x, float(M,D) y) -> (idx) {
    idx(i) = argmax(j: sum(d: (x(i,d) - y(j,d)) * (x(i,d) - y(j,d))))
}
def softmin(float(N,D) x, float(M,D) y, float(M) g, float eps) -> (f) {
    f(i) = -eps * logsumexp(j: (g(j) - sum(d: (x(i,d) - y(j,d)) * (x(i,d) - y(j,d)))) / eps)
}
def rbf_gram(float(N,D) x, float gamma) -> (k) {
    k(i,j) = exp(-gamma * sum(d: (x(i,d) - x(j,d)) * (x(i,d) - x(j,d))))
}
def hausdorff(float(N,D) x, float(M,D) y) -> (h) {
    h(i) = max(j: -sum(d: x(i,d) * y(j,d)))
}
def knn(float(N,D) x, float(M,D) y) -> (idx) {
    idx(i, r) = argkmin(j: sum(d: (x(i,d) - y(j,d)) * (x(i,d) - y(j,d))), 3)
}
"""

ATTN = """
def causal(float16(B,H,N,D) q, float16(B,H,N,D) k, float16(B,H,N,E) v, float scale) -> (o) {
    s(b,h,i,j) = q(b,h,i,d) * k(b,h,j,d) * scale
    o(b,h,i,e) = softmax(j: s(b,h,i,j)) * v(b,h,j,e)  where j <= i
}
def full(float16(B,H,N,D) q, float16(B,H,N,D) k, float16(B,H,N,E) v, float scale) -> (o) {
    s(b,h,i,j) = q(b,h,i,d) * k(b,h,j,d) * scale
    o(b,h,i,e) = softmax(j: s(b,h,i,j)) * v(b,h,j,e)
}
def window(float16(B,H,N,D) q, float16(B,H,N,D) k, float16(B,H,N,E) v, float scale, int32 W)
    -> (o) {
    s(b,h,i,j) = q(b,h,i,d) * k(b,h,j,d) * scale
    o(b,h,i,e) = softmax(j: s(b,h,i,j)) * v(b,h,j,e)  where abs(i - j) <= W
}
def causal_window(float16(B,H,N,D) q, float16(B,H,N,D) k, float16(B,H,N,E) v, float scale,
                  int32 W) -> (o) {
    s(b,h,i,j) = q(b,h,i,d) * k(b,h,j,d) * scale
    o(b,h,i,e) = softmax(j: s(b,h,i,j)) * v(b,h,j,e)  where j <= i, i - j <= W
}
"""


def _loops(fn, sizes, split=1):
    """gpu LoopIR of `fn` at `sizes`; split-j off unless asked (the interpreter runs each of its
    256 chunks as a Python loop of programs)."""
    def_ = run_pipeline(fn.def_)
    return lower(def_, replace(default_schedule(def_, "gpu", sizes), split_j=split))


def _check(src, name, args, path, tol, config=SMALL, split=1):
    """Run `name` on the triton backend (front end -> gpu LoopIR -> render) and the interpreter."""
    mod = tensorc.compile(src, backend="interp")
    fn = getattr(mod, name)
    sizes = fn._bind_sizes(fn._check_args(tuple(args)), tuple(args))
    prog = _loops(fn, sizes, split)
    text = render_program(prog, config)
    assert path in text, text[:2000]
    inputs = {d.name: a for d, a in zip(fn.def_.inputs, args)}
    dyn = {n: v for n, v in sizes.items() if n in prog.sizes}
    out = run(prog, inputs, dyn, config)[fn.def_.outputs[0].name]
    ref = np.asarray(fn(*args))
    if ref.dtype.kind in "iu":
        np.testing.assert_array_equal(out, ref)
    else:
        np.testing.assert_allclose(
            out.astype(np.float64), ref.astype(np.float64), rtol=tol, atol=tol
        )
    return text


def _pts(n, d, dtype=np.float32, ties=False):
    if ties:  # integer coordinates: many equal distances, so tie-breaking is exercised
        return RNG.integers(0, 3, (n, d)).astype(dtype)
    return RNG.standard_normal((n, d)).astype(dtype)


@pytest.mark.parametrize("n, m", [(1, 1), (7, 13), (33, 37), (5, 0)])
@pytest.mark.parametrize("d, e", [(3, 1), (20, 2)])
def test_gauss_kernel_sum(n, m, d, e):
    x, y = _pts(n, d), _pts(m, d)
    b = _pts(m, e)
    text = _check(KSUM, "gauss_ksum", [x, y, b, 1.5], TILE, 1e-4)
    assert ("tl.dot(" in text) == (d >= 16)  # |x|^2 + |y|^2 - 2 x.y on tensor cores


@pytest.mark.parametrize("name", ["nn", "far"])
@pytest.mark.parametrize("n, m", [(1, 1), (7, 13), (33, 37)])
def test_argmin_argmax_smallest_index_on_ties(name, n, m):
    x, y = _pts(n, 2, ties=True), _pts(m, 2, ties=True)
    _check(KSUM, name, [x, y], TILE, 0)


@pytest.mark.parametrize("n, m", [(1, 1), (7, 13), (33, 37)])
def test_logsumexp_softmin(n, m):
    x, y, g = _pts(n, 3), _pts(m, 3), _pts(m, 1)[:, 0]
    _check(KSUM, "softmin", [x, y, g, 0.5], TILE, 1e-4)


def test_max_fold_with_dot_product_inner_loop():
    x, y = _pts(19, 24), _pts(41, 24)
    text = _check(KSUM, "hausdorff", [x, y], TILE, 1e-4)
    assert "tl.dot(" in text


def test_kmin_falls_back_to_the_generic_path():
    x, y = _pts(9, 3), _pts(11, 3)
    _check(KSUM, "knn", [x, y], GENERIC, 0)


def _qkv(n, d, e, dtype):
    q, k = (RNG.standard_normal((1, 2, n, d)).astype(dtype) for _ in range(2))
    return [q, k, RNG.standard_normal((1, 2, n, e)).astype(dtype)]


@pytest.mark.parametrize("name", ["causal", "full"])
@pytest.mark.parametrize("n", [1, 7, 37])
@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_flash_attention(name, n, dtype):
    src = ATTN if dtype == "float16" else ATTN.replace("float16(", "float(")
    text = _check(src, name, [*_qkv(n, 16, 20, dtype), 0.25], FLASH, 3e-3)
    assert "tl.dot(" in text


@pytest.mark.parametrize("name", ["causal", "window"])
def test_flash_attention_with_the_batch_strip_mined(name):
    """B = 17 (beyond the specialised sizes): the gpu schedule tiles b by 64 (b_t, then b in
    [b_t, min(b_t + 64, B))); the pair is merged back, so the flash path still takes it (it was
    the generic path with the whole batch in one lane)."""
    from tensorc.ir.loop_printer import format_program

    src = ATTN.replace("float16(", "float(")
    q, k, v = (RNG.standard_normal((17, 1, 6, s)).astype(np.float32) for s in (4, 4, 3))
    args = [q, k, v, 0.5] + ([2] if name == "window" else [])
    fn = getattr(tensorc.compile(src, backend="interp"), name)
    sizes = fn._bind_sizes(fn._check_args(tuple(args)), tuple(args))
    assert "[b_t, min(" in format_program(_loops(fn, sizes))  # the case this test is about
    _check(src, name, args, FLASH, 1e-5)


@pytest.mark.parametrize("d", [20, 300])
def test_flash_symbolic_d_resident_or_chunked(d):
    """d = 20: the Q tile is loaded once before the j loop; d = 300 > RESIDENT_MAX_D: chunks."""
    src = ATTN.replace("float16(", "float(")
    text = _check(src, "causal", [*_qkv(9, d, 3, "float32"), 0.1], FLASH, 1e-4)
    assert "if RESIDENT" in text


@pytest.mark.parametrize("name", ["window", "causal_window"])
@pytest.mark.parametrize("n, w", [(7, 0), (37, 3), (40, 20)])
def test_flash_sliding_window(name, n, w):
    src = ATTN.replace("float16(", "float(")
    _check(src, name, [*_qkv(n, 4, 3, "float32"), 0.5, w], FLASH, 1e-5)


def test_window_loop_visits_only_the_window_tiles():
    """The j loop starts at the block's first window column, not at 0 (skipped tiles)."""
    src = ATTN.replace("float16(", "float(")
    fn = tensorc.compile(src, backend="interp").window
    prog = _loops(fn, {"B": 1, "H": 2, "N": 4096, "D": 64, "E": 64, "W": 128})
    text = render_program(prog, SMALL)
    assert "tl.min(tl.where(" in text and "for _j0" in text


def test_default_blocks_and_fast_paths_off():
    x, y, b = _pts(70, 3), _pts(130, 3), _pts(130, 1)
    _check(KSUM, "gauss_ksum", [x, y, b, 1.0], TILE, 1e-4, config={})
    x, y, b = x[:5], y[:6], b[:6]
    _check(KSUM, "gauss_ksum", [x, y, b, 1.0], GENERIC, 1e-4, config={"fast_paths": False})


@pytest.mark.parametrize("name", ["gauss_ksum", "nn", "softmin"])
def test_split_j_partials_and_combine(name):
    """split-j (schedule) gives a partial kernel per chunk (tile path) and a combine kernel."""
    x, y = _pts(5, 3), _pts(23, 3)
    extra = {"gauss_ksum": [_pts(23, 2), 1.0], "nn": [], "softmin": [_pts(23, 1)[:, 0], 0.5]}
    text = _check(KSUM, name, [x, y, *extra[name]], TILE, 1e-4, split=4)
    assert text.count("@triton.jit\ndef k") == 2


def test_split_attention_combine_uses_row_tiles():
    src = ATTN.replace("float16(", "float(")
    text = _check(src, "full", [*_qkv(7, 4, 20, "float32"), 0.5], FLASH, 1e-5, split=3)
    assert "# path: row tiles" in text


def test_space_lists_the_knobs_of_the_paths_taken_and_each_runs():
    """backend.candidates (what space() gives on a GPU): flash / tile knobs, each config correct."""
    from tensorc.backends.triton.backend import candidates
    from tensorc.backends.triton.values import DEFAULT_CONFIG

    fn = tensorc.compile(KSUM, backend="interp").gauss_ksum
    x, y, b = _pts(9, 20), _pts(11, 20), _pts(11, 1)
    sizes = {"N": 9, "M": 11, "D": 20, "E": 1}
    configs = candidates(_loops(fn, sizes), DEFAULT_CONFIG)
    assert configs[0] == DEFAULT_CONFIG and len(configs) > 3
    assert {"TILE_BLOCK_I", "TILE_BLOCK_J", "TILE_WARPS", "TILE_STAGES", "BLOCK_D"} <= {
        k for c in configs[1:] for k, v in c.items() if v != DEFAULT_CONFIG[k]
    }
    for cfg in configs[1:3]:
        _check(KSUM, "gauss_ksum", [x, y, b, 2.0], TILE, 1e-4, config=cfg)
    attn = tensorc.compile(ATTN, backend="interp").full
    prog = _loops(attn, {"B": 1, "H": 2, "N": 64, "D": 32, "E": 32})
    assert any(c["FLASH_BLOCK_J"] != 64 for c in candidates(prog, DEFAULT_CONFIG))
    rbf = tensorc.compile(KSUM, backend="interp").rbf_gram
    configs = candidates(_loops(rbf, {"N": 37, "D": 20}), DEFAULT_CONFIG)
    outs = [c for c in configs if c["OUT_BLOCK_J"] != DEFAULT_CONFIG["OUT_BLOCK_J"]]
    assert outs and all(c["TILE_BLOCK_J"] == DEFAULT_CONFIG["TILE_BLOCK_J"] for c in configs)
    _check(KSUM, "rbf_gram", [_pts(37, 20), 0.025], OUT_TILES, 1e-4, config=outs[0])


@pytest.mark.parametrize("n, d", [(1, 3), (37, 5), (33, 20), (9, 300)])
def test_rbf_gram_output_tiles(n, d):
    """j in [i, N) (Gram symmetry) as column tiles; both triangles stored; tl.dot when d >= 16."""
    text = _check(KSUM, "rbf_gram", [_pts(n, d), 0.5 / d], OUT_TILES, 1e-4)
    assert ("tl.dot(" in text) == (d >= 16)


def test_fp16_points_take_the_fp16_dot():
    """fp16 inputs: tl.dot on the fp16 tiles directly (fp32 accumulate)."""
    src = KSUM.replace("float(N,D) x, float(M,D) y", "float16(N,D) x, float16(M,D) y")
    x, y, b = _pts(13, 24, np.float16), _pts(29, 24, np.float16), _pts(29, 1)
    text = _check(src, "gauss_ksum", [x, y, b, 3.0], TILE, 2e-3)
    assert "tl.dot(_x" in text


FLIPPED = {**SMALL, **{f"{k}_INTERIOR": not DEFAULT_CONFIG[f"{k}_INTERIOR"] for k in ("FLASH", "TILE", "OUT")}}  # fmt: skip
INTERIOR_CASES = {  # name -> (source, def, args, path, tolerance); 16-wide tiles, ragged ends
    "ksum-d3": (KSUM, "gauss_ksum", lambda: [_pts(37, 3), _pts(50, 3), _pts(50, 2), 1.5], TILE, 1e-4),
    "ksum-d20": (KSUM, "gauss_ksum", lambda: [_pts(37, 20), _pts(50, 20), _pts(50, 1), 4.0], TILE, 1e-4),
    "nn-ties": (KSUM, "nn", lambda: [_pts(37, 2, ties=True), _pts(50, 2, ties=True)], TILE, 0),
    "softmin": (KSUM, "softmin", lambda: [_pts(37, 3), _pts(50, 3), _pts(50, 1)[:, 0], 0.5], TILE, 1e-4),
    "rbf": (KSUM, "rbf_gram", lambda: [_pts(50, 20), 0.05], OUT_TILES, 1e-4),
    "full": (ATTN, "full", lambda: [*_qkv(50, 16, 20, "float16"), 0.25], FLASH, 3e-3),
    "causal": (ATTN, "causal", lambda: [*_qkv(50, 16, 20, "float16"), 0.25], FLASH, 3e-3),
    "window": (ATTN, "window", lambda: [*_qkv(70, 4, 3, "float16"), 0.5, 20], FLASH, 3e-3),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(INTERIOR_CASES))
def test_interior_tiles_flipped(case):
    """Each tile path with its *_INTERIOR knob flipped: interior j tiles unmasked and boundary
    tiles masked (or every tile masked), same results as the interpreter."""
    src, name, args, path, tol = INTERIOR_CASES[case]
    text = _check(src, name, args(), path, tol, config=FLIPPED)
    kind = "FLASH" if path == FLASH else "OUT" if path == OUT_TILES else "TILE"
    assert ("_jb_" in text) == FLIPPED[f"{kind}_INTERIOR"]


def test_window_interior_loops():
    """A sliding window (per-row start and stop): masked tiles below, unmasked interior tiles,
    masked tiles above, in j order; checked on windows narrower and wider than a tile."""
    src, name, _, path, tol = INTERIOR_CASES["window"]
    for w in (3, 20):
        text = _check(src, name, [*_qkv(70, 4, 3, "float16"), 0.5, w], path, tol)
        assert text.count("for _j0") == 3
