"""Structural hash of a def: the same for programs that differ only in layout, comments, index names
and temporary names.

Indices are renamed per statement to i0, i1, ... in order of appearance (LHS first, then the
right-hand side in pre-order, then the mask); temporaries to t0, t1, ... in declaration order; the
def's own name is ignored. The renamed def is printed canonically and hashed.

    >>> from tensorc.frontend import parse_program
    >>> a = parse_program("def f(float(N) x) -> (y) { y(i) = x(i) }").defs[0]
    >>> b = parse_program("def g(float(N) x) -> (y) { y(k) = x(k) # same\\n }").defs[0]
    >>> structural_hash(a) == structural_hash(b)
    True
"""

from __future__ import annotations

import dataclasses
import hashlib

from tensorc.ir.printer import print_def
from tensorc.ir.tensor_ir import Access, Def, Expr, Index, Range, Reduce, Statement
from tensorc.ir.verifier import map_expr, walk


def canonical_names(d: Def) -> Def:
    """`d` with indices renamed i0, i1, ... per statement and temporaries t0, t1, ...; name '_'."""
    temps = {t.name: f"t{k}" for k, t in enumerate(d.temps)}
    taken = {t.name for t in (*d.inputs, *d.outputs)}
    for old in list(temps):  # never collide with a parameter that is already called t0
        k = 0
        while temps[old] in taken:
            temps[old] = f"t{len(temps) + k}_"
            k += 1
    body = tuple(_statement(st, temps) for st in d.body)
    new_temps = tuple(dataclasses.replace(t, name=temps[t.name]) for t in d.temps)
    return dataclasses.replace(d, name="_", temps=new_temps, body=body)


def _statement(st: Statement, temps: dict[str, str]) -> Statement:
    order: dict[str, str] = {}

    def see(name: str) -> None:
        order.setdefault(name, f"i{len(order)}")

    for i in st.indices:
        see(i)
    for e in (st.rhs, st.mask):
        if e is None:
            continue
        for x in walk(e):
            if isinstance(x, Reduce):
                for r in x.ranges:
                    see(r.index)
            elif isinstance(x, Index):
                see(x.name)

    def ren(x: Expr) -> Expr:
        if isinstance(x, Index):
            return dataclasses.replace(x, name=order[x.name])
        if isinstance(x, Access) and x.tensor in temps:
            return dataclasses.replace(x, tensor=temps[x.tensor])
        if isinstance(x, Reduce):
            ranges = tuple(Range(order[r.index], r.lo, r.hi) for r in x.ranges)
            rank = order.get(x.rank, x.rank) if x.rank is not None else None
            return dataclasses.replace(x, ranges=ranges, rank=rank)
        return x

    return Statement(
        temps.get(st.tensor, st.tensor),
        tuple(order[i] for i in st.indices),
        tuple(Range(order[r.index], r.lo, r.hi) for r in st.domain),
        map_expr(st.rhs, ren),
        None if st.mask is None else map_expr(st.mask, ren),
        st.span,
    )


def structural_hash(d: Def) -> str:
    """sha256 hex digest of the canonically renamed, canonically printed def."""
    return hashlib.sha256(print_def(canonical_names(d)).encode()).hexdigest()
