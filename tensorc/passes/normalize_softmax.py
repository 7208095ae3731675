"""Every spelling of a softmax-weighted sum in one normal form.

Input: canonical TensorIR after inlining. Output: the same meaning, where each spelling below is

    sum(j: exp(a - logsumexp(j': a[j := j'])) * rest)  [where mask]

with the logsumexp's body exactly `a` renamed (the form `Nest._online_softmax_parts` and the
flash-attention lowering match), and no ternary on `a` that only masks scores:

- `sum(j: exp(x) * rest) / sum(j': exp(x'))` (the normaliser divided, or hoisted out of the sum
  first), where `x = a - c` with `c` free of j (a running max `m(i)` in a temp) cancels;
- `exp(x - l(..))` where temp `l` holds `logsumexp(j: x)` (the logsumexp in a temporary; the temp
  becomes dead and `drop_dead` removes it);
- `exp(x - logsumexp(j': y))` with `y` equal to `x` up to the names of its bound indices (the
  one-statement `softmax(j: sum(d: ...))`, whose two copies get d and d_1);
- a score `cond ? s : NEG`, `cond ? NEG : s` or `s + (cond ? 0 : NEG)` with NEG <= -1e9 (or
  -inf) and `cond` on indices only, in both the weights and the normaliser: the mask moves onto the sum's domain
  (`where cond`). This changes nothing when every row keeps at least one j, which is checked:
  `cond` must hold at j = i for an LHS index i with the same range (causal, window, band).

Why: the fast paths (online softmax, blocked flash attention) recognise mathematics, not
spellings; each new spelling needs a rule here, never a new lowerer.
"""

from __future__ import annotations

from dataclasses import replace

import sympy

from tensorc.ir.tensor_ir import Access, Call, Const, Def, Expr, Index, Range, Reduce, is_zero
from tensorc.ir.tir_utils import (
    alpha_key,
    conjoin,
    conjuncts,
    free_indices,
    index_to_sympy,
    map_children,
    product,
    product_factors,
    substitute,
    walk,
)

# a score at or below this is a masked-out score (-1e9 is PyTorch's masked_fill idiom): exp of
# it minus any finite row max is exactly 0 in float32, so it weighs nothing
NEG_MASK = -1e9
_FLIP = {"lt": "ge", "ge": "lt", "le": "gt", "gt": "le", "eq": "ne", "ne": "eq"}


def _renamed(e: Expr, old: str, new: str) -> Expr:
    return substitute(e, {old: Index(new)}) if old != new else e


def _same(a: Expr, b: Expr) -> bool:
    return alpha_key(a) == alpha_key(b)


def _same_range(a: Range, b: Range) -> bool:
    return is_zero(a.lo - b.lo) and is_zero(a.hi - b.hi)


def _lse(a: Expr, r: Reduce, mask: Expr | None, dtype: str) -> Reduce:
    """logsumexp over a fresh copy of `r`'s index of `a` (renamed), under `mask` (renamed)."""
    j = r.ranges[0].index
    taken = {x.name for x in walk(a) if isinstance(x, Index)} | {j}
    taken |= {g.index for x in walk(a) if isinstance(x, Reduce) for g in x.ranges}
    n, j2 = 1, f"{j}_1"
    while j2 in taken:
        n, j2 = n + 1, f"{j}_{n + 1}"
    body = _renamed(a, j, j2)
    m2 = None if mask is None else _renamed(mask, j, j2)
    return Reduce("logsumexp", (replace(r.ranges[0], index=j2),), body, m2, dtype)


def _weighted(a: Expr, r: Reduce, rest: list[Expr], mask: Expr | None) -> Reduce:
    """The normal form `sum(j: exp(a - lse_j(a)) * rest)` over `r`'s range under `mask`."""
    lse = _lse(a, r, mask, a.dtype)
    w = Call("exp", (Call("sub", (a, lse), a.dtype),), a.dtype)
    return Reduce("sum", r.ranges, product([w, *rest], r.dtype), mask, r.dtype)


def _exp_factor(r: Reduce) -> tuple[Expr, list[Expr]] | None:
    """(argument of the one exp factor, the other factors) of a one-index sum's product body."""
    if r.op != "sum" or len(r.ranges) != 1:
        return None
    fs = product_factors(r.body)
    exps = [k for k, f in enumerate(fs) if isinstance(f, Call) and f.fn == "exp"]
    if len(exps) != 1:
        return None
    return fs[exps[0]].args[0], [f for k, f in enumerate(fs) if k != exps[0]]


def _shifted(x: Expr, j: str) -> Expr:
    """`x` without a j-free shift: `a - c` -> `a` (the shift cancels in a softmax)."""
    shift = isinstance(x, Call) and x.fn == "sub" and j not in free_indices(x.args[1])
    return x.args[0] if shift and j in free_indices(x.args[0]) else x


def _quotient(e: Call) -> Expr | None:
    """`sum(j: exp(x) * rest) / sum(j': exp(x'))` -> the normal form, else None."""
    num, den = e.args
    if not (isinstance(num, Reduce) and isinstance(den, Reduce)):
        return None
    got, dgot = _exp_factor(num), _exp_factor(den)
    if got is None or dgot is None or dgot[1] or num.dtype != den.dtype:
        return None
    (x, rest), (y, _) = got, dgot
    j, j2 = num.ranges[0].index, den.ranges[0].index
    if not _same_range(num.ranges[0], den.ranges[0]):
        return None
    y, dmask = _renamed(y, j2, j), den.mask and _renamed(den.mask, j2, j)
    if not _same(x, y) or (dmask is None) != (num.mask is None):
        return None
    if dmask is not None and not _same(dmask, num.mask):
        return None
    return _weighted(_shifted(x, j), num, rest, num.mask)


class _Rules:
    """The rewrites of one def (`lse_temps`: temp -> its statement, for temps that hold a
    logsumexp over one index)."""

    def __init__(self, def_: Def):
        self.rows: dict[str, Range] = {}  # the LHS ranges of the statement being rewritten
        self.lse_temps = {
            st.tensor: st
            for st in def_.body
            if st.mask is None
            and isinstance(st.rhs, Reduce)
            and st.rhs.op == "logsumexp"
            and len(st.rhs.ranges) == 1
            and def_.tensor(st.tensor).role == "temp"
            and sum(s.tensor == st.tensor for s in def_.body) == 1
        }

    def expr(self, e: Expr) -> Expr:
        e = map_children(e, self.expr)
        if isinstance(e, Call) and e.fn == "div":
            got = _quotient(e)
            return e if got is None else _unmasked_score(got, self.rows)
        if isinstance(e, Reduce) and e.op == "sum":
            return self.weighted(e)
        return e

    def weighted(self, r: Reduce) -> Reduce:
        got = _exp_factor(r)
        if got is None:
            return r
        x, rest = got
        if not (isinstance(x, Call) and x.fn == "sub"):
            return r
        a, norm = x.args
        j = r.ranges[0].index
        if j in free_indices(norm):
            return r
        if isinstance(norm, Access) and norm.tensor in self.lse_temps:
            st = self.lse_temps[norm.tensor]
            norm = substitute(st.rhs, dict(zip(st.indices, norm.indices)))
        if not (isinstance(norm, Reduce) and norm.op == "logsumexp" and len(norm.ranges) == 1):
            return r
        if not _same_range(norm.ranges[0], r.ranges[0]):
            return r
        j2 = norm.ranges[0].index
        body = _renamed(norm.body, j2, j)
        nmask = norm.mask and _renamed(norm.mask, j2, j)
        if not _same(body, a) or (nmask is None) != (r.mask is None):
            return r
        if nmask is not None and not _same(nmask, r.mask):
            return r
        return _unmasked_score(_weighted(a, r, rest, r.mask), self.rows)


def _neg_const(e: Expr) -> bool:
    return isinstance(e, Const) and not isinstance(e.value, bool) and e.value <= NEG_MASK


def _index_only(c: Expr) -> bool:
    return not any(isinstance(x, Access) and x.indices for x in walk(c)) and all(
        not isinstance(x, Reduce) for x in walk(c)
    )


def _negated(c: Expr) -> Expr:
    """not `c`, with a comparison flipped (`j > i` -> `j <= i`) so that it stays a bound."""
    if isinstance(c, Call) and c.fn in _FLIP:
        return Call(_FLIP[c.fn], c.args, c.dtype)
    if isinstance(c, Call) and c.fn == "not":
        return c.args[0]
    return Call("not", (c,), "bool")


def _score_mask(a: Expr) -> tuple[Expr, Expr] | None:
    """(unmasked score, condition) of `cond ? s : NEG`, `cond ? NEG : s` (the condition
    negated) or `s + (cond ? 0 : NEG)`."""
    inverted = isinstance(a, Call) and a.fn == "select" and _neg_const(a.args[1])
    if inverted and not _neg_const(a.args[2]):
        a = Call("select", (_negated(a.args[0]), a.args[2], a.args[1]), a.dtype)

    def masking(m: Expr, kept: Expr | None) -> bool:  # `cond ? kept : NEG`, cond on indices
        ok = isinstance(m, Call) and m.fn == "select" and _neg_const(m.args[2])
        return ok and _index_only(m.args[0]) and (kept is None or m.args[1] == kept)

    if masking(a, None):
        return a.args[1], a.args[0]
    if isinstance(a, Call) and a.fn == "add":
        for s, m in (a.args, a.args[::-1]):
            if masking(m, Const(0, m.dtype)) or masking(m, Const(0.0, m.dtype)):
                return s, m.args[0]
    return None


def _keeps_diagonal(cond: Expr, j: str, rows: dict[str, Range], r: Range) -> bool:
    """Whether every row keeps a j: `cond` holds at j = i for an LHS index i ranging like j."""
    for i, ri in rows.items():
        if not _same_range(ri, r):
            continue
        ok = True
        for c in conjuncts(cond):
            c = substitute(c, {j: Index(i)})
            if not (isinstance(c, Call) and c.fn in ("le", "ge", "lt", "gt", "eq", "ne")):
                ok = False
                break
            lhs, rhs = (index_to_sympy(x) for x in c.args)
            if lhs is None or rhs is None:
                ok = False
                break
            rel = {"le": sympy.Le, "ge": sympy.Ge, "lt": sympy.Lt, "gt": sympy.Gt,
                   "eq": sympy.Eq, "ne": sympy.Ne}[c.fn](lhs, rhs)  # fmt: skip
            nonneg = {s: sympy.Symbol(s.name, integer=True, nonnegative=True)
                      for s in rel.free_symbols if s.name != i}  # fmt: skip
            if rel.subs(nonneg) is not sympy.true:  # sympy decides 0 <= W for W >= 0 itself
                ok = False
                break
        if ok:
            return True
    return False


def _unmasked_score(r: Reduce, rows: dict[str, Range]) -> Reduce:
    """A normal-form sum whose score masks with a ternary: the mask moves onto the domain."""
    x, rest = _exp_factor(r)
    a = x.args[0]
    got = _score_mask(a)
    j = r.ranges[0].index
    if got is None or not _keeps_diagonal(got[1], j, rows, r.ranges[0]):
        return r
    score, cond = got
    mask = conjoin([*conjuncts(r.mask), cond])
    return _weighted(score, r, rest, mask)


def normalize_softmax(def_: Def) -> Def:
    rules = _Rules(def_)
    body = []
    for st in def_.body:
        rules.rows = {g.index: g for g in st.domain}
        body.append(replace(st, rhs=rules.expr(st.rhs)))
    return replace(def_, body=tuple(body))
