"""What the passes that split a sum into a new temp share (`presum_factors`, `extract_operands`):
a walk over one statement's unmasked sums with the ranges in scope, new temps computed by their
own statements just before the reader, and the def-level driver that inserts them.

A pass subclasses `SumRewriter`, implements `rewrite(r, scope)` for one sum (its body already
rewritten) and calls `new_temp` for each temp it needs.
"""

from __future__ import annotations

from dataclasses import replace

import sympy

from tensorc.ir.tensor_ir import Def, Expr, Range, Reduce, Statement, TensorDecl
from tensorc.ir.tir_utils import map_children


class SumRewriter:
    """Rewrites the unmasked sums of one statement, innermost first; `new` collects the
    (temp decl, statement) pairs to insert before it. `taken`: names in use (shared by the def)."""

    def __init__(self, def_: Def, st: Statement, taken: set[str]):
        self.def_, self.st, self.taken = def_, st, taken
        self.new: list[tuple[TensorDecl, Statement]] = []

    def rewrite(self, r: Reduce, scope: dict[str, Range]) -> Expr:
        raise NotImplementedError

    def expr(self, e: Expr, scope: dict[str, Range]) -> Expr:
        if isinstance(e, Reduce):
            inner = scope | {g.index: g for g in e.ranges}
            e = replace(e, body=self.expr(e.body, inner))
            return self.rewrite(e, inner) if e.op == "sum" and e.mask is None else e
        return map_children(e, lambda c: self.expr(c, scope))

    def new_temp(self, base: str, rhs: Expr, keep: list[str], scope: dict[str, Range]) -> str:
        """A fresh temp over the 0-based ranges of `keep`, computed as `rhs`; its name."""
        name, n = base, 1
        while name in self.taken:
            name, n = f"{base}{n}", n + 1
        self.taken.add(name)
        shape = tuple(sympy.sympify(scope[i].hi) for i in keep)
        dom = tuple(Range(i, sympy.Integer(0), scope[i].hi) for i in keep)
        decl = TensorDecl(name, rhs.dtype, shape, "temp")
        self.new.append((decl, Statement(name, tuple(keep), dom, rhs)))
        return name


def rewrite_sums(def_: Def, make) -> Def:
    """Run `make(def_, statement, taken)` (a `SumRewriter`) over every statement, inserting the
    temps it creates just before the statement that reads them."""
    taken = {d.name for d in (*def_.inputs, *def_.outputs, *def_.temps)}
    body: list[Statement] = []
    temps = list(def_.temps)
    for st in def_.body:
        rw = make(def_, st, taken)
        rhs = rw.expr(st.rhs, {g.index: g for g in st.domain})
        for decl, pre in rw.new:
            temps.append(decl)
            body.append(pre)
        body.append(replace(st, rhs=rhs) if rw.new else st)
    return replace(def_, body=tuple(body), temps=tuple(temps))
