"""explain() promises (no i x j buffer for W1-W4, window tiles proportional to W) and golden
LoopIR / explain text (TENSORC_ACCEPT_GOLDEN=1 rewrites the files)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pass_workloads as W
import pytest
import sympy

from tensorc.explain import explain
from tensorc.ir.loop_printer import format_program
from tensorc.pipeline import to_loops

GOLDEN = Path(__file__).parents[1] / "golden" / "loops"
ACCEPT = os.environ.get("TENSORC_ACCEPT_GOLDEN") == "1"

STREAMING = {
    "w1": (W.w1, ("N", "M")),
    "w2": (W.w2, ("N", "M")),
    "w2k": (lambda: W.w2(4), ("N", "M")),
    "w3": (W.w3, ("N", "M")),
    "w4": (W.w4, ("N", "M")),
}


@pytest.mark.parametrize("case", sorted(STREAMING))
@pytest.mark.parametrize("target", ["cpu", "gpu"])
def test_no_i_by_j_buffer(case, target):
    make, (i, j) = STREAMING[case]
    def_, _ = make()
    prog = to_loops(def_, target, None)
    for b in (*prog.outputs, *prog.temps):
        syms = {str(s) for d in b.shape for s in sympy.sympify(d).free_symbols}
        assert not {i, j} <= syms, f"buffer {b.name}{b.shape} holds an {i} x {j} matrix"
    for line in explain(def_, target).splitlines():
        if line.startswith(("  temp", "  out")):
            assert not (f"{i}," in line and f"{j}]" in line)


def _tiles(text: str) -> tuple[int, int]:
    m = re.search(r"-> (\d+) of (\d+) tiles", text)
    assert m, text
    return int(m.group(1)), int(m.group(2))


def test_window_tiles_proportional_to_window():
    def_, _ = W.w5()
    base = {"B": 1, "H": 1, "N": 4096, "M": 4096, "D": 64, "E": 64}
    visited = {}
    for w in (64, 128, 256):
        text = explain(def_, "cpu", {**base, "W": w})
        visited[w], total = _tiles(text)
        assert total == 64 * 64
        assert "skipped by loop bounds" in text
    assert visited[64] < visited[128] < visited[256] < 0.2 * total
    # a band of half-width W covers about (2W / 64 + 2) tiles per tile row
    for w, v in visited.items():
        assert abs(v - 64 * (2 * w / 64 + 1)) <= 64 * 2


def test_explain_mentions_fusion_and_path():
    text = explain(W.w4()[0], "cpu", {"B": 1, "H": 1, "N": 100, "M": 100, "D": 8, "E": 8})
    assert "temp s inlined" in text and "online pass" in text
    text = explain(W.tucker()[0], "cpu", {"I": 8, "J": 9, "K": 10, "R": 3, "S": 4, "P": 5})
    assert "contraction path:" in text and "gemm" in text
    text = explain(W.value_mask()[0], "cpu")
    assert "not expressible as bounds" in text


@pytest.mark.parametrize("case", ["w4", "w5", "gram"])
def test_flops_of_blocked_kernels_read_in_sizes(case):
    """Block sizes (bm = min(i0 + 96, N) - i0, ...) and clamped masked bounds count at their
    largest: the estimate names sizes and tiles only, and is near the true count."""
    make = {"w4": W.w4, "w5": W.w5, "gram": W.gram}[case]
    def_, _ = make()
    sizes = {"B": 1, "H": 2, "N": 2048, "M": 2048, "D": 64, "E": 64, "W": 4096}
    text = explain(def_, "cpu", sizes)
    (line,) = [x for x in text.splitlines() if x.startswith("  flops ~")]
    names = set(re.findall(r"[A-Za-z_]\w*", line.split("=")[0])) - {"flops", "ceiling", "floor"}
    assert names <= set(sizes), line
    value, unit = re.search(r"= ([\d.]+)([GM])", line).groups()
    counted = float(value) * {"G": 1e9, "M": 1e6}[unit]
    n, d = sizes["N"], sizes["D"]
    # attention: Q K^T and P V (a window of 4096 covers every j); Gram: x x^T, its triangle of
    # tiles counted at full range
    want = 4 * sizes["B"] * sizes["H"] * n * n * d if case != "gram" else 2 * n * n * d
    assert want <= counted <= 1.3 * want, (line, want)


GOLDENS = {
    "w1": (W.w1, {"D": 3, "E": 1}),
    "w3": (W.w3, None),
    "w4": (W.w4, None),
    "w5": (W.w5, None),
    "gram": (W.gram, None),
    "rbf_gram": (W.rbf_gram, {"D": 64}),
    "tucker": (W.tucker, None),
    "chain": (W.chain, None),
}


@pytest.mark.parametrize("case", sorted(GOLDENS))
def test_golden(case):
    make, sizes = GOLDENS[case]
    def_, _ = make()
    text = format_program(to_loops(def_, "cpu", sizes)) + "\n# explain\n" + explain(def_, "cpu", sizes)
    path = GOLDEN / f"{case}.txt"
    if ACCEPT or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        if not ACCEPT:
            pytest.skip(f"golden file {path.name} created")
    assert text == path.read_text(), f"{path} differs; rerun with TENSORC_ACCEPT_GOLDEN=1 if intended"
