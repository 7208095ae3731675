"""Range inference (Tensor Comprehensions' rule) and bound expressions.

For every index, the largest half-open range that reads no tensor out of bounds, derived from the
accesses where it is the only index of unknown range in an affine index expression (`A(i)`,
`A(2*h + kh)` once kh is known, `A(i // 2)`). Indirect and modular index expressions give no
constraint. Two accesses giving different extents (not provably equal with sympy) is an error
asking for a `where` range.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy

from tensorc.errors import NameError_, RangeError, Span
from tensorc.frontend import syntax as S
from tensorc.frontend.names import did_you_mean
from tensorc.ir.tensor_ir import Access, Call, Const, Expr, Index, is_zero, size_symbol
from tensorc.ir.verifier import size_value_of


@dataclass(frozen=True)
class Constraint:
    expr: sympy.Expr  # over index symbols (`isym`) and size symbols
    size: sympy.Expr  # 0 <= expr < size
    tensor: str
    dim: int
    span: Span | None


def isym(name: str) -> sympy.Symbol:
    """The sympy symbol of an index variable (distinct from size symbols by its assumptions)."""
    return sympy.Symbol(name, integer=True)


def index_to_sympy(e: Expr, int_scalars: set[str]):
    """An index expression as a sympy expression, or None when it is not affine/floordiv."""
    if isinstance(e, Index):
        return isym(e.name)
    if isinstance(e, Const) and isinstance(e.value, int) and not isinstance(e.value, bool):
        return sympy.Integer(e.value)
    if isinstance(e, Access) and not e.indices and e.tensor in int_scalars:
        return size_symbol(e.tensor)
    size = size_value_of(e)
    if size is not None:
        return size_symbol(size)
    if isinstance(e, Call):
        args = [index_to_sympy(a, int_scalars) for a in e.args]
        if any(a is None for a in args):
            return None
        if e.fn == "add":
            return args[0] + args[1]
        if e.fn == "sub":
            return args[0] - args[1]
        if e.fn == "neg":
            return -args[0]
        if e.fn == "mul":
            return args[0] * args[1]
        if e.fn == "floordiv" and args[1].is_Integer and args[1] > 0:
            return sympy.floor(args[0] / args[1])
    return None


def constraints_of(accesses, shapes: dict[str, tuple], int_scalars: set[str]) -> list[Constraint]:
    out = []
    for acc, span in accesses:
        for dim, (ix, size) in enumerate(zip(acc.indices, shapes[acc.tensor], strict=True)):
            e = index_to_sympy(ix, int_scalars)
            if e is None:
                continue
            if isinstance(e, sympy.floor):
                num, den = sympy.fraction(sympy.together(e.args[0]))
                if not den.is_Integer:
                    continue
                e, size = sympy.expand(num), size * den
            out.append(Constraint(e, size, acc.tensor, dim, span))
    return out


def _solve(c: Constraint, u: sympy.Symbol, known: dict[sympy.Symbol, tuple]) -> tuple | None:
    """Range of u making 0 <= c.expr < c.size for every value of the known indices."""
    e = sympy.expand(c.expr)
    coef = e.coeff(u)
    if coef == 0 or coef.has(u) or sympy.expand(e - coef * u).has(u):
        return None
    if not coef.is_Integer:
        if not (coef.is_nonnegative and all(s.is_nonnegative for s in coef.free_symbols)):
            return None  # a coefficient of unknown sign
        hi = sympy.floor((c.size - 1 - _rest_bounds(e - coef * u, known, True)) / coef) + 1
        return sympy.expand(_ceil_sym(-_rest_bounds(e - coef * u, known, False), coef)), hi
    rest = sympy.expand(e - coef * u)
    rmin = rmax = sympy.Integer(0)
    for term in sympy.Add.make_args(rest):
        syms = [s for s in term.free_symbols if s in known]
        if not syms:
            rmin, rmax = rmin + term, rmax + term
            continue
        if len(syms) > 1:
            return None
        s = syms[0]
        k = term.coeff(s)
        if k.has(s) or sympy.expand(term - k * s) != 0:
            return None
        lo, hi = known[s]
        a, b = k * lo, k * (hi - 1)
        if k.is_nonnegative:
            rmin, rmax = rmin + a, rmax + b
        elif k.is_nonpositive:
            rmin, rmax = rmin + b, rmax + a
        else:
            return None
    if coef > 0:
        lo = _ceil_div(-rmin, coef)
        hi = sympy.floor((c.size - 1 - rmax) / coef) + 1 if coef != 1 else c.size - rmax
    else:
        cp = -coef
        lo = _ceil_div(rmax - c.size + 1, cp)
        hi = sympy.floor(rmin / cp) + 1 if cp != 1 else rmin + 1
    return sympy.expand(lo), sympy.expand(hi)


def _rest_bounds(rest, known, upper: bool):
    rmin = rmax = sympy.Integer(0)
    for term in sympy.Add.make_args(sympy.expand(rest)):
        syms = [s for s in term.free_symbols if s in known]
        if not syms:
            rmin, rmax = rmin + term, rmax + term
            continue
        s = syms[0]
        k = term.coeff(s)
        lo, hi = known[s]
        a, b = k * lo, k * (hi - 1)
        if k.is_nonpositive:
            a, b = b, a
        rmin, rmax = rmin + a, rmax + b
    return rmax if upper else rmin


def _ceil_sym(a, c):
    return a if a == 0 else -sympy.floor(-a / c)


def _ceil_div(a, c):
    return a if c == 1 else sympy.floor((a + c - 1) / c)


def _equal(a, b) -> bool:
    if a == b:
        return True
    return is_zero(a - b)


def infer_ranges(
    indices: list[str],
    fixed: dict[str, tuple],
    constraints: list[Constraint],
    first_use: dict[str, Span | None],
) -> dict[str, tuple]:
    """Ranges for `indices`; `fixed` holds explicit / declared ones (they win)."""
    known = {isym(n): r for n, r in fixed.items()}
    todo = [n for n in indices if n not in fixed]
    while todo:
        found: dict[str, tuple] = {}
        for n in todo:
            u = isym(n)
            cands = []
            for c in constraints:
                if not c.expr.has(u):
                    continue
                unknown = [
                    s
                    for s in c.expr.free_symbols
                    if s.name in indices and s not in known and not s.is_nonnegative
                ]
                if unknown != [u]:
                    continue
                r = _solve(c, u, known)
                if r is not None:
                    cands.append((r, c))
            if not cands:
                continue
            (r0, c0) = cands[0]
            for r, c in cands[1:]:
                if not (_equal(r[0], r0[0]) and _equal(r[1], r0[1])):
                    raise RangeError(
                        f"ambiguous range for index '{n}': {_fmt(r0)} from {c0.tensor} (dim {c0.dim})"
                        f" but {_fmt(r)} from {c.tensor} (dim {c.dim})",
                        c.span,
                        f"give it explicitly, e.g. `where {n} in {_fmt(r0)}`",
                    )
            found[n] = r0
        if not found:
            n = todo[0]
            raise RangeError(
                f"cannot infer the range of index '{n}'",
                first_use.get(n),
                f"add a range, e.g. `where {n} in 0:N`",
            )
        for n, r in found.items():
            known[isym(n)] = r
        todo = [n for n in todo if n not in found]
    return {s.name: r for s, r in known.items()}


def _fmt(r) -> str:
    return f"{r[0]}:{r[1]}"


# --- bound expressions (where ranges, output dims) --------------------------------------------
def bound_to_sympy(node: S.Node, sizes: set[str], what: str = "a bound") -> sympy.Expr:
    """A size expression: integers, size symbols, + - * // / % and max/min."""
    if isinstance(node, S.Num) and not node.is_float:
        return sympy.Integer(int(node.text))
    if isinstance(node, S.Name):
        if node.id in sizes:
            return size_symbol(node.id)
        raise NameError_(
            f"'{node.id}' is not a size symbol or integer scalar parameter ({what})",
            node.span,
            did_you_mean(node.id, sizes) or "bounds may use sizes of inputs and integer scalars",
        )
    if isinstance(node, S.Unary) and node.op == "-":
        return -bound_to_sympy(node.x, sizes, what)
    if isinstance(node, S.Binary) and node.op in ("+", "-", "*", "/", "//", "%"):
        a, b = bound_to_sympy(node.a, sizes, what), bound_to_sympy(node.b, sizes, what)
        if node.op == "+":
            return a + b
        if node.op == "-":
            return a - b
        if node.op == "*":
            return a * b
        if b == 0:
            raise RangeError("division by zero in a size expression", node.span)
        if node.op == "%":
            return sympy.Mod(a, b)
        return sympy.floor(a / b)
    if (
        isinstance(node, S.Apply)
        and node.fn in ("max", "min")
        and node.binders is None
        and len(node.args) == 2
    ):
        a, b = (bound_to_sympy(x, sizes, what) for x in node.args)
        return sympy.Max(a, b) if node.fn == "max" else sympy.Min(a, b)
    raise RangeError(
        f"{what} must be an integer expression over sizes",
        getattr(node, "span", None),
        "use integers, size symbols, + - * // %",
    )
