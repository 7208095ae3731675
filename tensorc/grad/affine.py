"""Affine index algebra for transposing accesses: IR index expressions <-> sympy, and solving
`e(v, ...) = u` for one variable.

The adjoint of a read `A(2*h + kh)` is a write to `dA(u)`; where `kh = u - 2*h` can be solved
(coefficient +-1) the write becomes a gather over `h` (Halide's and TVM's trick), otherwise the
caller falls back to an equality mask `e == u` (a scatter written as a gather).
"""

from __future__ import annotations

import sympy

from tensorc.ir.tensor_ir import Access, Call, Const, Expr, Index, Range, Reduce, size_symbol
from tensorc.ir.types import INDEX
from tensorc.ir.verifier import size_value_of


def index_symbol(name: str) -> sympy.Symbol:
    return sympy.Symbol(name, integer=True)


def to_sympy(e: Expr) -> sympy.Expr | None:
    """An affine index expression as sympy (sizes as size symbols), or None (not affine)."""
    if isinstance(e, Index):
        return index_symbol(e.name)
    if isinstance(e, Const) and not isinstance(e.value, bool) and float(e.value).is_integer():
        return sympy.Integer(int(e.value))
    if isinstance(e, Reduce):
        size = size_value_of(e)
        return size_symbol(size) if size is not None else None
    if not isinstance(e, Call) or isinstance(e, Access):
        return None
    args = [to_sympy(a) for a in e.args]
    if any(a is None for a in args):
        return None
    if e.fn == "add":
        return args[0] + args[1]
    if e.fn == "sub":
        return args[0] - args[1]
    if e.fn == "neg":
        return -args[0]
    if e.fn == "mul" and (args[0].is_number or args[1].is_number):
        return args[0] * args[1]
    if e.fn == "cast":
        return args[0]
    return None


def from_sympy(s, index_names: set[str] | None = None) -> Expr:
    """A sympy integer expression as an int64 TensorIR expression. Symbols named in
    `index_names` (default: every symbol not a size) are index variables, others sizes."""
    s = sympy.sympify(s)
    if s.is_Integer:
        return Const(int(s), INDEX)
    if s.is_Symbol:
        is_index = (s.name in index_names) if index_names is not None else not s.is_nonnegative
        if is_index:
            return Index(s.name, INDEX)
        return Reduce(
            "sum",
            (Range(f"{s.name}_size", sympy.Integer(0), size_symbol(s.name)),),
            Const(1, INDEX),
            None,
            INDEX,
        )
    if isinstance(s, sympy.Add):
        terms = list(s.as_ordered_terms())
        out = from_sympy(terms[0], index_names)
        for t in terms[1:]:
            c, _ = t.as_coeff_Mul()
            if c.is_negative:
                out = Call("sub", (out, from_sympy(-t, index_names)), INDEX)
            else:
                out = Call("add", (out, from_sympy(t, index_names)), INDEX)
        return out
    if isinstance(s, sympy.Mul):
        c, rest = s.as_coeff_Mul()
        if c == -1:
            return Call("neg", (from_sympy(rest, index_names),), INDEX)
        factors = [from_sympy(f, index_names) for f in rest.as_ordered_factors()]
        out = Const(int(c), INDEX) if c != 1 else factors.pop(0)
        for f in factors:
            out = Call("mul", (out, f), INDEX)
        return out
    raise AssertionError(f"from_sympy: not an affine index expression: {s}")


def solve_unit(
    lin: sympy.Expr, target: sympy.Symbol, candidates: list[str]
) -> tuple[str, sympy.Expr] | None:
    """Solve `lin == target` for the last candidate variable whose coefficient is +-1 and that
    `lin` holds linearly; (name, solution) or None."""
    for name in reversed(candidates):
        v = index_symbol(name)
        if v not in lin.free_symbols:
            continue
        poly = sympy.Poly(lin, v) if lin.is_polynomial(v) else None
        if poly is None or poly.degree() != 1:
            continue
        coeff = poly.coeff_monomial(v)
        if coeff not in (1, -1) or v in coeff.free_symbols:
            continue
        rest = sympy.expand(lin - coeff * v)
        return name, sympy.expand((target - rest) / coeff)
    return None
