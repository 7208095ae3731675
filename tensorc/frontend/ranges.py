"""Range inference (Tensor Comprehensions' rule) and bound expressions.

For every index, the largest half-open range that reads no tensor out of bounds, derived from the
accesses where it is the only index of unknown range in an affine index expression (`A(i)`,
`A(2*h + kh)` once kh is known, `K(X - 1 + x - xp)` once xp's `where` range is known, `A(i // 2)`).
A tensor defined earlier in the def bounds its readers by its defined range (`pad(h) = I(h - 5)`
holds h in 5:H+5 only). Indirect and modular index expressions give no constraint. When accesses
imply different ranges, the index gets their intersection (TC's rule), with a warning when the
extents are different size symbols. Afterwards every affine access must be provably in bounds over
the inferred ranges, else an error asks for a `where` range (as TC: `O(i) +=! I(i, i + j, j)`).
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy

from tensorc.errors import NameError_, RangeError, ShapeError, Span, warn
from tensorc.frontend import syntax as S
from tensorc.frontend.names import did_you_mean
from tensorc.ir.tensor_ir import Access, Call, Const, Expr, Index, Reduce, is_zero, size_symbol
from tensorc.ir.verifier import size_value_of


@dataclass(frozen=True)
class Constraint:
    expr: sympy.Expr  # over index symbols (`isym`) and size symbols
    size: sympy.Expr  # lo <= expr < size
    tensor: str
    dim: int
    span: Span | None
    lo: sympy.Expr = sympy.S.Zero
    guarded: bool = False  # read in a `?:` branch: the condition, not the range, keeps it in


def isym(name: str) -> sympy.Symbol:
    """The sympy symbol of an index variable (distinct from size symbols by its assumptions)."""
    return sympy.Symbol(name, integer=True)


def index_to_sympy(e: Expr, int_scalars: set[str], size_binders: dict[str, str] | None = None):
    """An index expression as a sympy expression, or None when it is not affine/floordiv.

    `size_binders`: binder -> size for the `sum(z: 1)` size values of a statement whose ranges
    are not filled in yet."""
    if isinstance(e, Index):
        return isym(e.name)
    if isinstance(e, Const) and isinstance(e.value, int) and not isinstance(e.value, bool):
        return sympy.Integer(e.value)
    if isinstance(e, Access) and not e.indices and e.tensor in int_scalars:
        return size_symbol(e.tensor)
    size = size_value_of(e)
    if size is None and size_binders and isinstance(e, Reduce) and len(e.ranges) == 1:
        size = size_binders.get(e.ranges[0].index)
    if size is not None:
        return size_symbol(size)
    if isinstance(e, Call):
        args = [index_to_sympy(a, int_scalars, size_binders) for a in e.args]
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


def constraints_of(
    accesses, bounds: dict[str, tuple], int_scalars: set[str], size_binders=None, guarded=()
) -> list[Constraint]:
    """`bounds[tensor]`: per dimension, the (lo, hi) range where the tensor is defined;
    `guarded`: positions of accesses inside a `?:` branch (they bound indices as usual, but the
    condition may be what keeps them in bounds, so they are not proved afterwards)."""
    out = []
    for pos, (acc, span) in enumerate(accesses):
        for dim, (ix, (lo, size)) in enumerate(zip(acc.indices, bounds[acc.tensor], strict=True)):
            e = index_to_sympy(ix, int_scalars, size_binders)
            if e is None:
                continue
            if isinstance(e, sympy.floor):
                num, den = sympy.fraction(sympy.together(e.args[0]))
                if not den.is_Integer:
                    continue
                e, lo, size = sympy.expand(num), lo * den, size * den
            out.append(Constraint(e, size, acc.tensor, dim, span, lo, pos in guarded))
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
        lo = _ceil_sym(c.lo - _rest_bounds(e - coef * u, known, False), coef)
        return sympy.expand(lo), hi
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
        lo = _ceil_div(c.lo - rmin, coef)
        hi = sympy.floor((c.size - 1 - rmax) / coef) + 1 if coef != 1 else c.size - rmax
    else:
        cp = -coef
        lo = _ceil_div(rmax - c.size + 1, cp)
        hi = sympy.floor((rmin - c.lo) / cp) + 1 if cp != 1 else rmin - c.lo + 1
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
    explicit: frozenset[str] = frozenset(),
) -> dict[str, tuple]:
    """Ranges for `indices`; `fixed` holds explicit / declared ones (they win); `explicit`: the
    indices whose range a `where` clause gives (their reads are the user's word: only a read
    provably out of bounds is an error here, the rest is checked when the kernel is called)."""
    known = {isym(n): r for n, r in fixed.items()}
    todo = [n for n in indices if n not in fixed]
    used: set[int] = set()  # constraints some range was solved from: in bounds by construction
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
            cands = _unguarded_first(u, cands, set(indices))
            if not cands:
                continue
            found[n] = _intersect(n, cands, first_use.get(n))
            used.update(id(c) for _, c in cands)
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
    for c in constraints:
        if id(c) not in used and not c.guarded:
            _check_in_bounds(c, known, set(indices), explicit)
    return {s.name: r for s, r in known.items()}


def _unguarded_first(u, cands: list, indices: set[str]) -> list:
    """A read under a `?:` branch may be what the condition protects (`t - k >= 0 ? x(t - k) *
    w(k) : 0`): it bounds the index only when nothing else does — an unguarded read first, then a
    guarded read of the index alone (`w(k)`), then any."""
    plain = [rc for rc in cands if not rc[1].guarded]
    if plain:
        return plain
    alone = [rc for rc in cands if {x.name for x in rc[1].expr.free_symbols} & indices == {u.name}]
    return alone or cands


def _intersect(n: str, cands: list, span: Span | None) -> tuple:
    """The intersection of the ranges that each access implies (TC's rule); a warning when two
    extents are different size symbols (`float(N) a, float(M) b`, `a(i) + b(i)`: N or M?)."""
    (lo, hi), c0 = cands[0]
    for (rlo, rhi), c in cands[1:]:
        if _equal(rlo, lo) and _equal(rhi, hi):
            continue
        e0, e1 = sympy.expand(hi - lo), sympy.expand(rhi - rlo)
        if e0.is_Symbol and e1.is_Symbol and e0 != e1:
            warn(
                f"index '{n}' has extent {e0} from {c0.tensor} (dim {c0.dim}) but {e1} from "
                f"{c.tensor} (dim {c.dim}): it ranges over both, min({e0}, {e1})",
                c.span,
                f"if {e0} and {e1} are one size, give them one name; else say which with "
                f"`where {n} in {_fmt((lo, hi))}`",
            )
        lo, hi = _max(lo, rlo), _min(hi, rhi)
    return lo, hi


def _max(a, b):
    d = sympy.expand(a - b)
    if d.is_nonnegative:
        return a
    if d.is_nonpositive:
        return b
    return sympy.Max(a, b)


def _min(a, b):
    d = sympy.expand(a - b)
    if d.is_nonpositive:
        return a
    if d.is_nonnegative:
        return b
    return sympy.Min(a, b)


def _extremes(expr, known: dict, indices: set[str]) -> tuple | None:
    """(min, max) of an affine index expression over the known index ranges, or None when it is
    not affine with coefficients of known sign."""
    lo = hi = sympy.Integer(0)
    for term in sympy.Add.make_args(sympy.expand(expr)):
        syms = [s for s in term.free_symbols if s.name in indices]
        if not syms:
            lo, hi = lo + term, hi + term
            continue
        if len(syms) > 1 or syms[0] not in known:
            return None
        s = syms[0]
        k = term.coeff(s)
        if k.has(s) or sympy.expand(term - k * s) != 0:
            return None
        a, b = k * known[s][0], k * (known[s][1] - 1)
        if k.is_nonnegative:
            lo, hi = lo + a, hi + b
        elif k.is_nonpositive:
            lo, hi = lo + b, hi + a
        else:
            return None
    return lo, hi


def _nonnegative(d) -> bool:
    """Whether d >= 0 is provable for every size. A Min/Max of sizes equals one of its arguments,
    so d holds if it holds for each; a Min in a term that lowers d (or a Max that raises it) is
    bounded by any one of its arguments."""
    d = sympy.expand(d)
    atoms = [a for a in d.atoms(sympy.Min, sympy.Max)]
    if not atoms:  # sizes are >= 1 here: an empty array reads nothing (the call checks the rest)
        pos = {s: sympy.Symbol(s.name, integer=True, positive=True) for s in d.free_symbols}
        return bool(d.subs(pos).is_nonnegative)
    m = atoms[0]
    k = d.coeff(m)
    if not d.has(m) or (k != 0 and sympy.expand(d - k * m).has(m)):
        return False
    one = (k.is_negative and isinstance(m, sympy.Min)) or (
        k.is_positive and isinstance(m, sympy.Max)
    )
    tries = [_nonnegative(d.subs(m, a)) for a in m.args]
    return any(tries) if one else all(tries)


def _check_in_bounds(c: Constraint, known: dict, indices: set[str], explicit=frozenset()) -> None:
    """TC's rule: an access no range was solved from must be provably in bounds over the ranges
    (`O(i) +=! I(i, i + j, j)` is an error: i + j may pass I's extent). Index expressions that
    are not affine (gathers, modulo) or strided by a size are left to the call-time bounds check."""
    ext = _extremes(c.expr, known, indices)
    if ext is None:
        return
    lo, hi = ext
    ranges = [s for s in c.expr.free_symbols if s.name in indices]
    strided = any(not sympy.expand(c.expr).coeff(s).is_Integer for s in ranges)
    if strided or any(known[s][1].has(sympy.floor) for s in ranges):
        return  # sympy proves little about floors: left to the call-time check
    if any(sympy.expand(known[s][1] - known[s][0]).is_nonpositive for s in ranges):
        return  # an empty range reads nothing
    below = _nonnegative(lo - c.lo)
    above = _nonnegative(c.size - 1 - hi)
    if below and above:
        return
    # `input(index(l), w) where l in 0:2`: the user's ranges; an error only when provably out
    user_ranges = ranges and all(s.name in explicit for s in ranges)
    if user_ranges and not (_nonnegative(c.lo - lo - 1) or _nonnegative(hi - c.size)):
        return
    over = ", ".join(f"{s} in {_fmt(known[s])}" for s in sorted(ranges, key=str))
    spans = f", which spans {lo}..{hi} for {over}," if ranges else ""
    raise ShapeError(
        f"{c.tensor}'s dimension {c.dim} is read at {c.expr}{spans} but {c.tensor} is defined "
        f"on {_fmt((c.lo, c.size))} only",
        c.span,
        "restrict the indices with `where` ranges that keep every access in bounds"
        + (" (or declare the output with the shape the inputs allow)" if ranges else ""),
    )


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


def _fmt(r) -> str:
    return f"{r[0]}:{r[1]}"
