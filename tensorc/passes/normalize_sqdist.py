"""Squared distances in one normal form.

Input: canonical TensorIR after inlining. Output: the same meaning (up to rounding: the result is
the exact form), where an expanded squared distance

    |x_i|^2 + |y_j|^2 - 2 x_i . y_j     (its three terms in any order, as `+`/`-` of the sums
                                         sum(d: x(i,d) * x(i,d)), sum(d: y(j,d) * y(j,d)) and
                                         2 * sum(d: x(i,d) * y(j,d)))

(a norm may also be a read of a temp that holds it) is
`sum(d: (x(i,d) - y(j,d)) * (x(i,d) - y(j,d)))`, the form the Gram lowering
(tensorc/schedule/gram.py) matches and computes as norms + one Gemm, with symmetric tiles when
x is y.

Why: RBF Gram written through a norms temporary `n(i) = sum(d: x(i,d) * x(i,d))` or a Gram
temporary `g(i,j)` (read as `g(i,i) + g(j,j) - 2 g(i,j)`) is the same mathematics as W7's
one-statement spelling and should get the same plan (it lost the symmetry: 1.5x).
"""

from __future__ import annotations

from dataclasses import replace

from tensorc.ir.tensor_ir import Access, Call, Const, Def, Expr, Index, Reduce, Statement, is_zero
from tensorc.ir.tir_utils import map_children, substitute


def _terms(e: Expr, sign: int = 1) -> list[tuple[int, Expr]]:
    """`e` as signed terms of an add/sub tree."""
    if isinstance(e, Call) and e.fn == "add":
        return _terms(e.args[0], sign) + _terms(e.args[1], sign)
    if isinstance(e, Call) and e.fn == "sub":
        return _terms(e.args[0], sign) + _terms(e.args[1], -sign)
    return [(sign, e)]


def _dot(r: Expr) -> tuple[Access, Access, Reduce] | None:
    """(a, b, r) if `r` is sum(d: a(., d) * b(., d)) over one index of two plain 2-d reads."""
    if not (isinstance(r, Reduce) and r.op == "sum" and r.mask is None and len(r.ranges) == 1):
        return None
    body = r.body
    if isinstance(body, Call) and body.fn == "pow" and body.args[1] == Const(2, body.args[1].dtype):
        a = b = body.args[0]  # sum(d: pow(x(i,d), 2)): a norm
    elif isinstance(body, Call) and body.fn == "mul":
        a, b = body.args
    else:
        return None
    d = Index(r.ranges[0].index)
    for acc in (a, b):
        if not (isinstance(acc, Access) and len(acc.indices) == 2 and d in acc.indices):
            return None
        if not all(isinstance(i, Index) for i in acc.indices):
            return None
    return a, b, r


def _twice(e: Expr) -> Expr | None:
    """`x` if `e` is `2 * x` or `x * 2`."""
    if isinstance(e, Call) and e.fn == "mul":
        for c, x in (e.args, e.args[::-1]):
            if isinstance(c, Const) and not isinstance(c.value, bool) and c.value == 2:
                return x
    return None


def _canon(a: Access, d: str, to: str) -> Access:
    return substitute(a, {d: Index(to)}) if d != to else a


def _same_range(r1: Reduce, r2: Reduce) -> bool:
    g1, g2 = r1.ranges[0], r2.ranges[0]
    return is_zero(g1.lo - g2.lo) and is_zero(g1.hi - g2.hi)


def _sqdist(e: Expr, order: tuple[str, ...], norms: dict[str, Statement]) -> Expr | None:
    terms = [(sign, _norm_read(t, norms)) for sign, t in _terms(e)]
    if len(terms) != 3:
        return None
    plus = [t for s, t in terms if s == 1]
    minus = [t for s, t in terms if s == -1]
    if len(plus) != 2 or len(minus) != 1:
        return None
    cross = _twice(minus[0])
    dots = [_dot(t) for t in (*plus, cross)] if cross is not None else [None]
    if any(x is None for x in dots):
        return None
    (a1, a2, r1), (b1, b2, r2), (c1, c2, r3) = dots
    if not (_same_range(r1, r3) and _same_range(r2, r3)):
        return None
    d = r3.ranges[0].index
    sq1 = _canon(a1, r1.ranges[0].index, d), _canon(a2, r1.ranges[0].index, d)
    sq2 = _canon(b1, r2.ranges[0].index, d), _canon(b2, r2.ranges[0].index, d)
    if sq1[0] != sq1[1] or sq2[0] != sq2[1]:
        return None
    x, y = sq1[0], sq2[0]

    def rank(a: Access) -> int:  # the operand of the statement's first index goes first
        names = [i.name for i in a.indices if i.name != d]
        return order.index(names[0]) if names and names[0] in order else len(order)

    if rank(y) < rank(x):
        x, y = y, x
    if {x, y} != {c1, c2} or x.dtype != y.dtype or r3.dtype != x.dtype:
        return None
    diff = Call("sub", (x, y), x.dtype)
    return Reduce("sum", r3.ranges, Call("mul", (diff, diff), x.dtype), None, r3.dtype)


def _rewrite(e: Expr, order: tuple[str, ...], norms: dict[str, Statement]) -> Expr:
    e = map_children(e, lambda c: _rewrite(c, order, norms))
    if isinstance(e, Call) and e.fn in ("add", "sub"):
        got = _sqdist(e, order, norms)
        if got is not None and got.dtype == e.dtype:
            return got
    return e


def _norm_read(t: Expr, norms: dict[str, Statement]) -> Expr:
    """A read `n(i)` of a norms temp as its definition `sum(d: x(i,d) * x(i,d))` (a temp that
    `inline_temps` kept because its reader loops over j too); other terms as they are."""
    if isinstance(t, Access) and t.tensor in norms:
        st = norms[t.tensor]
        return substitute(st.rhs, dict(zip(st.indices, t.indices)))
    return t


def normalize_sqdist(def_: Def) -> Def:
    temps = {d.name for d in def_.temps}
    norms = {
        st.tensor: st
        for st in def_.body
        if st.tensor in temps
        and st.mask is None
        and sum(s.tensor == st.tensor for s in def_.body) == 1
        and _dot(st.rhs) is not None
    }
    body = tuple(replace(st, rhs=_rewrite(st.rhs, st.indices, norms)) for st in def_.body)
    return replace(def_, body=body)
