"""passes/guard_reductions.py on its own: reductions in a ?: branch get the branch condition."""

from __future__ import annotations

from tensorc.frontend import parse_program
from tensorc.ir.printer import print_expr
from tensorc.ir.tensor_ir import Reduce, walk
from tensorc.passes.guard_reductions import guard_reductions

SRC = """def f(float(C,T) x, float(C,K) w) -> (y) {
    y(t) = sum(k: t - k >= 0 ? sum(c: x(c, t - k) * w(c, k)) : sum(c: w(c, k))) where t in 0:T, k in 0:K
}"""


def test_branch_conditions_become_reduction_masks():
    d = guard_reductions(parse_program(SRC).defs[0])
    inner = [r for r in walk(d.body[0].rhs) if isinstance(r, Reduce) and r.ranges[0].index != "k"]
    masks = sorted(print_expr(r.mask) for r in inner)
    assert masks == ["!(t - k >= 0)", "t - k >= 0"]
    outer = d.body[0].rhs
    assert isinstance(outer, Reduce) and outer.mask is None  # the condition uses k: not above it


def test_no_select_no_change():
    d = parse_program("def f(float(N,M) a) -> (o) { o(i) = sum(j: a(i,j)) + N }").defs[0]
    assert guard_reductions(d) == d
