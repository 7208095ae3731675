"""Smart constructors for TensorIR expressions built by differentiation.

Each constructor types its node with `ops.result_dtype` (numpy promotion) and folds the trivial
cases that reverse mode produces everywhere (`g * 1`, `0 + g`, `--g`), so a derivative prints as
what a person would write. Index helpers (`index`, `index_sum`, substitution, free variables) live
here too: the differentiation passes share them.
"""

from __future__ import annotations

from dataclasses import replace

import sympy

from tensorc.grad.affine import from_sympy, index_symbol
from tensorc.ir.ops import result_dtype
from tensorc.ir.tensor_ir import Access, Call, Const, Expr, Index, Range, Reduce, walk
from tensorc.ir.tir_utils import alpha_key, free_indices, product_factors, substitute
from tensorc.ir.types import INDEX, is_float


def const(value: float, dtype: str) -> Const:
    """A literal of `dtype` (float literals for float dtypes)."""
    return Const(float(value) if is_float(dtype) else int(value), dtype)


def is_const(e: Expr, value: float) -> bool:
    return isinstance(e, Const) and not isinstance(e.value, bool) and e.value == value


def call(fn: str, *args: Expr, dtype: str | None = None) -> Expr:
    """`fn(args)` typed by the op table (`dtype` only for casts)."""
    return Call(fn, tuple(args), dtype or result_dtype(fn, tuple(a.dtype for a in args)))


def add(a: Expr, b: Expr) -> Expr:
    if is_const(a, 0):
        return b
    if is_const(b, 0):
        return a
    if isinstance(b, Call) and b.fn == "neg":
        return sub(a, b.args[0])
    shared = _shared_factors(a, b)
    if shared is not None:  # x * P + y * P -> (x + y) * P: P (holding a reduction) once
        common, ra, rb = shared
        return mul(call("add", ra, rb), product_of(common))
    return call("add", a, b)


def _shared_factors(a: Expr, b: Expr):
    """(common factors, rest of a, rest of b) when the products `a` and `b` share factors equal
    up to bound-index names and one of them holds a reduction (the chain rule through
    `2 * s * s` gives two terms that each recompute W1's exponential), else None."""
    fa, fb = product_factors(a), product_factors(b)
    keys_b = [alpha_key(f) for f in fb]
    common, rest_a = [], []
    for f in fa:
        k = alpha_key(f)
        if k in keys_b:
            n = keys_b.index(k)
            keys_b[n] = None
            common.append(f)
        else:
            rest_a.append(f)
    if not any(isinstance(x, Reduce) for f in common for x in walk(f)):
        return None
    rest_b = [f for f, k in zip(fb, keys_b) if k is not None]
    one = const(1, a.dtype)
    return common, product_of(rest_a) if rest_a else one, product_of(rest_b) if rest_b else one


def product_of(factors: list[Expr]) -> Expr:
    out = factors[0]
    for f in factors[1:]:
        out = mul(out, f)
    return out


def sub(a: Expr, b: Expr) -> Expr:
    if is_const(b, 0):
        return a
    if is_const(a, 0):
        return neg(b)
    return call("sub", a, b)


def neg(a: Expr) -> Expr:
    if isinstance(a, Call) and a.fn == "neg":
        return a.args[0]
    if isinstance(a, Const) and not isinstance(a.value, bool):
        return Const(-a.value, a.dtype)
    return call("neg", a)


def _guarded(e: Expr) -> bool:
    """`c ? x : 0`: a cotangent that flows only where c holds."""
    return isinstance(e, Call) and e.fn == "select" and is_const(e.args[2], 0)


def mul(a: Expr, b: Expr) -> Expr:
    # (c ? g : 0) * f is c ? g * f : 0: f's reads stay under the guard that kept them in
    # bounds in the forward (`rf >= D ? x(rf - D) : 0`)
    if _guarded(a):
        c, t, _ = a.args
        return select(c, mul(t, b), const(0, promote_dtype(a, b)))
    if _guarded(b):
        c, t, _ = b.args
        return select(c, mul(a, t), const(0, promote_dtype(a, b)))
    if is_const(a, 1):
        return b
    if is_const(b, 1):
        return a
    if is_const(a, -1):
        return neg(b)
    if is_const(b, -1):
        return neg(a)
    if isinstance(a, Call) and a.fn == "neg":  # keep the sign outermost: -(g * f)
        return neg(mul(a.args[0], b))
    if isinstance(b, Call) and b.fn == "neg":
        return neg(mul(a, b.args[0]))
    return call("mul", a, b)


def div(a: Expr, b: Expr) -> Expr:
    if _guarded(a):
        c, t, _ = a.args
        return select(c, div(t, b), const(0, result_dtype("div", (a.dtype, b.dtype))))
    if is_const(b, 1):
        return a
    if isinstance(a, Call) and a.fn == "neg":
        return neg(div(a.args[0], b))
    return call("div", a, b)


def sum_over(ranges: tuple[Range, ...], body: Expr, mask: Expr | None) -> Expr:
    """`sum(ranges: body)` with the factors of `body` that do not depend on the summed indices
    pulled out (`sum(e: d_o(i,e) * v(j,e) * p(i,j))` is `p(i,j) * sum(e: d_o(i,e) * v(j,e))`), so
    the pipeline sees the contraction. Bodies with a guarded read stay whole."""
    names = {r.index for r in ranges}
    negative = False
    while isinstance(body, Call) and body.fn == "neg":
        negative, body = not negative, body.args[0]
    factors = product_factors(body)
    inside = [f for f in factors if free_indices(f) & names]
    outside = [f for f in factors if not free_indices(f) & names]
    guarded = any(isinstance(x, Call) and x.fn == "select" for x in walk(body))
    if not inside or not outside or guarded:
        out: Expr = Reduce("sum", ranges, body, mask, body.dtype)
    else:
        inner = inside[0]
        for f in inside[1:]:
            inner = mul(inner, f)
        out = Reduce("sum", ranges, inner, mask, inner.dtype)
        for f in reversed(outside):
            out = mul(f, out)
    return neg(out) if negative else out


def promote_dtype(a: Expr, b: Expr) -> str:
    return result_dtype("mul", (a.dtype, b.dtype))


def select(c: Expr, a: Expr, b: Expr) -> Expr:
    return call("select", c, a, b)


def cast(a: Expr, dtype: str) -> Expr:
    return a if a.dtype == dtype else Call("cast", (a,), dtype)


def index(name: str) -> Index:
    return Index(name, INDEX)


def index_const(value: int) -> Const:
    return Const(int(value), INDEX)


def flat_index(ranges: tuple[Range, ...]) -> Expr:
    """Row-major offset of a point in `ranges` from their lower corner (argmax's convention)."""
    total = sympy.Integer(0)
    for r in ranges:
        total = total * (r.hi - r.lo) + (index_symbol(r.index) - r.lo)
    return from_sympy(sympy.expand(total), {r.index for r in ranges})


def tensors_read(e: Expr) -> set[str]:
    """Tensors `e` reads (index tensors included)."""
    return {x.tensor for x in walk(e) if isinstance(x, Access)}


def unique_binders(e: Expr, seen: set[str], fresh) -> Expr:
    """`e` with every reduction's indices renamed where another binder (or an LHS index, in
    `seen`) already uses the name: the printed statement lists each index's range once."""
    if isinstance(e, Reduce):
        subst = {}
        ranges = []
        for r in e.ranges:
            name = r.index
            if name in seen:
                name = fresh(name)
                subst[r.index] = Index(name, INDEX)
            seen.add(name)
            ranges.append(replace(r, index=name))
        body = unique_binders(substitute(e.body, subst), seen, fresh)
        mask = None if e.mask is None else unique_binders(substitute(e.mask, subst), seen, fresh)
        return replace(e, ranges=tuple(ranges), body=body, mask=mask)
    if isinstance(e, Access):
        return replace(e, indices=tuple(unique_binders(i, seen, fresh) for i in e.indices))
    if isinstance(e, Call):
        return replace(e, args=tuple(unique_binders(a, seen, fresh) for a in e.args))
    return e
