"""Sign facts of a kernel's float values (LoopIR, pure): which expressions are never > 0 or < 0.

The renderer asks `Signs(kernel).nonpositive(e)` before emitting exp/exp2: an argument that is
never positive needs no overflow path (mathlib's `exp2_nonpos`). W1's exponent
`-sum(d: c * c) / ((2 * sigma) * sigma)` is one: a sum of squares is >= 0 whatever the data, and
`sigma` appears twice in the product.

A fact allows NaN: "ge0" means "is >= 0 or NaN", "le0" "is <= 0 or NaN" (both: 0 or NaN). A name
(Let, Local) gets the facts that hold for every value it is ever bound or assigned, found as the
greatest fixed point: every name starts with both facts, and each round keeps only those that
every definition still proves (so `acc = acc + c * c` from `acc = 0` stays >= 0).

Example:
    Signs(kernel).nonpositive(call_expr.args[0])  # True for W1's exponent
"""

from __future__ import annotations

import dataclasses
from collections import Counter

from tensorc.ir import loop_ir as L

GE0, LE0 = "ge0", "le0"
BOTH, NONE = frozenset((GE0, LE0)), frozenset()
_FLIP = {GE0: LE0, LE0: GE0}
_NONNEG_FNS = ("exp", "exp2", "sqrt", "abs", "cosh", "relu", "sigmoid", "softplus")


def _definitions(stmts, out: dict[str, list]) -> dict[str, list]:
    """name -> the expressions it is bound or assigned to (None: unknown, e.g. a loop index)."""
    for s in stmts:
        if isinstance(s, L.Loop):
            out.setdefault(s.var, []).append(None)
            _definitions(s.body, out)
        elif isinstance(s, L.Let):
            out.setdefault(s.name, []).append(s.value)
        elif isinstance(s, L.Local):
            out.setdefault(s.name, []).append(s.init)
        elif isinstance(s, L.Assign):
            out.setdefault(s.name, []).append(s.value)
        elif isinstance(s, L.If):
            _definitions(s.then, out)
            _definitions(s.orelse, out)
        else:  # Gemm, Copy, ...: a local written through an operand holds anything
            for f in dataclasses.fields(s):
                v = getattr(s, f.name)
                if isinstance(v, L.Operand) and v.local:
                    out.setdefault(v.buffer, []).append(None)
    return out


class Signs:
    """The sign facts of one kernel's expressions."""

    def __init__(self, kernel: L.Kernel):
        self.sizes = set(kernel.sizes)
        defs = _definitions(kernel.body, {})
        self.names = {n: BOTH for n in defs}
        changed = True
        while changed:  # facts only shrink, so this ends (at most two rounds per name)
            changed = False
            for n, values in defs.items():
                facts = self.names[n]  # only shrinks: a fixed point that every definition keeps
                for v in values:
                    facts &= NONE if v is None else self.of(v)
                if facts != self.names[n]:
                    self.names[n], changed = facts, True

    def nonpositive(self, e: L.LExpr) -> bool:
        return LE0 in self.of(e)

    def of(self, e: L.LExpr) -> frozenset:
        """The facts that hold for `e` (a subset of {ge0, le0})."""
        if isinstance(e, L.Const):
            v = float(e.value)
            return frozenset(f for f, ok in ((GE0, v >= 0), (LE0, v <= 0)) if ok or v != v)
        if isinstance(e, (L.Var, L.LocalRead)):
            if e.name in self.names:
                return self.names[e.name]
            return frozenset((GE0,)) if e.name in self.sizes else NONE
        if not isinstance(e, L.Call):
            return NONE
        a = [self.of(x) for x in e.args[:2]]
        if e.fn in ("mul", "div"):
            return self._product(e)
        if e.fn == "neg":
            return frozenset(_FLIP[f] for f in a[0])
        if e.fn in ("add", "select", "fmax", "fmin", "cast"):
            out = BOTH
            for x in e.args[1:] if e.fn == "select" else e.args:
                out &= self.of(x)
            return out
        if e.fn == "sub":
            return a[0] & frozenset(_FLIP[f] for f in a[1])
        if e.fn in ("max", "min"):  # NaN-propagating: max(a, b) >= a, min(a, b) <= a
            keep = GE0 if e.fn == "max" else LE0
            return (a[0] & a[1]) | (frozenset((keep,)) & (a[0] | a[1]))
        return frozenset((GE0,)) if e.fn in _NONNEG_FNS else NONE

    def _product(self, e: L.LExpr) -> frozenset:
        """Facts of a product/quotient: the known-sign factors give the sign, and factors of
        unknown sign must come in equal pairs (sigma * sigma, c * c). A divisor's sign counts only
        where it cannot be a zero of the other sign (x / -0.0 is -inf): a nonzero constant, a
        size or a result of exp/abs."""
        flips, unknown = 0, Counter()
        for f, divisor in _factors(e, False):
            facts = self.of(f)
            if divisor and not _signed_divisor(f, self.sizes):
                facts = NONE
            if facts == BOTH:
                return BOTH  # 0 times anything is 0 or NaN
            if facts == NONE:
                unknown[f] += 1
            flips += LE0 in facts and GE0 not in facts
        if any(n % 2 for n in unknown.values()):
            return NONE
        return frozenset((LE0,)) if flips % 2 else frozenset((GE0,))


def _factors(e: L.LExpr, divisor: bool):
    """(factor, is in a divisor) of nested mul/div/neg; a neg is a factor -1."""
    if isinstance(e, L.Call) and e.fn in ("mul", "div", "neg"):
        if e.fn == "neg":
            yield L.Const(-1.0, e.dtype), divisor
        for k, a in enumerate(e.args):
            yield from _factors(a, divisor != (e.fn == "div" and k == 1))
    else:
        yield e, divisor


def _signed_divisor(f: L.LExpr, sizes: set[str]) -> bool:
    if isinstance(f, L.Const):
        return float(f.value) != 0
    if isinstance(f, L.Var):
        return f.name in sizes
    return isinstance(f, L.Call) and f.fn in ("exp", "exp2", "abs", "cosh", "sigmoid")
