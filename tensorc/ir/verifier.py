"""TensorIR invariants, checked: `verify(program_or_def)` raises AssertionError with the printed IR.

Also the small generic traversals of TensorIR expressions (`children`, `map_expr`, `walk`,
`index_names`) that the front end, printer and hashing share.
"""

from __future__ import annotations

from collections.abc import Callable

import sympy

from tensorc.ir.ops import ARG_REDUCTIONS, OPS, REDUCTIONS, result_dtype
from tensorc.ir.tensor_ir import (  # noqa: F401 - children/walk re-exported for the front end
    Access,
    Call,
    Const,
    Def,
    Expr,
    Index,
    Program,
    Reduce,
    children,
    map_children,
    walk,
)
from tensorc.ir.types import DTYPES, INDEX, is_float, is_int


# --- traversal ---------------------------------------------------------------------------------
def map_expr(e: Expr, fn: Callable[[Expr], Expr]) -> Expr:
    """Rebuild `e` bottom-up, applying `fn` to every node after its children."""
    return fn(map_children(e, lambda c: map_expr(c, fn)))


def index_names(e: Expr) -> set[str]:
    """Index variables used in `e` (bound or free)."""
    return {x.name for x in walk(e) if isinstance(x, Index)}


def size_value_of(e: Expr) -> str | None:
    """The size N when `e` is the count `sum(z: 1)` over `z in 0:N` (a size used as a value)."""
    if (
        isinstance(e, Reduce)
        and e.op == "sum"
        and len(e.ranges) == 1
        and e.mask is None
        and isinstance(e.body, Const)
        and e.body.value == 1
        and e.ranges[0].lo == 0
        and e.dtype == e.body.dtype
        and isinstance(e.ranges[0].hi, sympy.Symbol)
    ):
        return e.ranges[0].hi.name
    return None


# --- verifier ----------------------------------------------------------------------------------
class _Fail(Exception):
    pass


def verify(obj: Program | Def) -> None:
    """Check the canonical-form invariants of tensor_ir.py; AssertionError on the first broken one."""
    defs = obj.defs if isinstance(obj, Program) else (obj,)
    for d in defs:
        try:
            _verify_def(d)
        except _Fail as f:
            from tensorc.ir.printer import print_def

            try:
                text = print_def(d)
            except Exception as e:  # noqa: BLE001 - the IR is broken; show what we can
                text = f"<unprintable: {e!r}>\n{d!r}"
            raise AssertionError(f"TensorIR verifier: def '{d.name}': {f}\n{text}") from None


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise _Fail(msg)


def _verify_def(d: Def) -> None:
    decls = {}
    for t in (*d.inputs, *d.outputs, *d.temps):
        _check(t.name not in decls, f"tensor '{t.name}' declared twice")
        _check(t.dtype in DTYPES, f"tensor '{t.name}': unknown dtype {t.dtype}")
        _check(all(isinstance(s, sympy.Expr) for s in t.shape), f"tensor '{t.name}': bad shape")
        decls[t.name] = t
    sizes = {str(s) for t in d.inputs for dim in t.shape for s in dim.free_symbols}
    sizes |= {t.name for t in d.inputs if not t.shape and is_int(t.dtype)}
    defined = {t.name for t in d.inputs}
    for st in d.body:
        _check(
            st.tensor in decls and decls[st.tensor].role != "input",
            f"statement writes unknown or input tensor '{st.tensor}'",
        )
        decl = decls[st.tensor]
        _check(
            len(st.indices) == len(decl.shape) == len(st.domain),
            f"statement on '{st.tensor}': rank mismatch",
        )
        _check(len(set(st.indices)) == len(st.indices), "repeated LHS index")
        for i, r in zip(st.indices, st.domain, strict=True):
            _check(r.index == i, f"domain of '{st.tensor}' names {r.index}, LHS has {i}")
            _bounds(r, sizes)
        scope = frozenset(st.indices)
        _expr(st.rhs, scope, decls, defined, sizes)
        _check(
            st.rhs.dtype == decl.dtype,
            f"'{st.tensor}' is {decl.dtype} but its statement computes {st.rhs.dtype}",
        )
        if st.mask is not None:
            _expr(st.mask, scope, decls, defined, sizes)
            _check(st.mask.dtype == "bool", "statement mask is not bool")
        defined.add(st.tensor)
    for t in d.outputs:
        _check(t.name in defined, f"output '{t.name}' never written")


def _bounds(r, sizes: set[str]) -> None:
    for b in (r.lo, r.hi):
        _check(isinstance(b, sympy.Expr), f"range of {r.index} has a non-sympy bound {b!r}")
        extra = {str(s) for s in b.free_symbols} - sizes
        _check(not extra, f"range of {r.index} uses unknown symbols {sorted(extra)}")


def _expr(e: Expr, scope: frozenset[str], decls, defined, sizes) -> None:
    _check(isinstance(e, Expr), f"not an expression: {e!r}")
    _check(getattr(e, "dtype", None) in DTYPES, f"{type(e).__name__} without a valid dtype")
    if isinstance(e, Const):
        return
    if isinstance(e, Index):
        _check(e.name in scope, f"index '{e.name}' used outside its range")
        _check(e.dtype == INDEX, f"index '{e.name}' is not int64")
        return
    if isinstance(e, Access):
        _check(e.tensor in decls, f"access of undefined tensor '{e.tensor}'")
        _check(e.tensor in defined, f"'{e.tensor}' read before it is written")
        t = decls[e.tensor]
        _check(
            len(e.indices) == len(t.shape), f"'{e.tensor}' indexed with {len(e.indices)} indices"
        )
        _check(e.dtype == t.dtype, f"access of '{e.tensor}' typed {e.dtype}, declared {t.dtype}")
        for ix in e.indices:
            _check(is_int(ix.dtype), f"non-integer index into '{e.tensor}'")
            _expr(ix, scope, decls, defined, sizes)
        return
    if isinstance(e, Call):
        _check(e.fn in OPS, f"unknown op '{e.fn}'")
        arity = OPS[e.fn].arity
        _check(arity < 0 or len(e.args) == arity, f"'{e.fn}' with {len(e.args)} args")
        for a in e.args:
            _expr(a, scope, decls, defined, sizes)
        want = result_dtype(e.fn, tuple(a.dtype for a in e.args), e.dtype)
        _check(want == e.dtype, f"'{e.fn}' typed {e.dtype}, its arguments give {want}")
        return
    if isinstance(e, Reduce):
        _check(e.op in REDUCTIONS, f"unknown reduction '{e.op}'")
        _check(len(e.ranges) > 0, "reduction without ranges")
        names = [r.index for r in e.ranges]
        _check(len(set(names)) == len(names), "reduction binds an index twice")
        _check(not set(names) & scope, f"reduction rebinds {sorted(set(names) & scope)}")
        for r in e.ranges:
            _bounds(r, sizes)
        inner = scope | set(names)
        _expr(e.body, inner, decls, defined, sizes)
        if e.mask is not None:
            _expr(e.mask, inner, decls, defined, sizes)
            _check(e.mask.dtype == "bool", "reduction mask is not bool")
        if e.op in ARG_REDUCTIONS:
            want = INDEX
        elif e.op == "logsumexp":
            want = e.body.dtype if is_float(e.body.dtype) else "float64"
        else:
            want = e.body.dtype
        _check(e.dtype == want, f"{e.op} typed {e.dtype}, expected {want}")
        if e.op in ("kmin", "argkmin"):
            _check(
                e.k > 0 and e.rank is not None and e.rank in scope,
                f"{e.op} needs k > 0 and a rank index of the statement",
            )
        return
    raise _Fail(f"unknown node {e!r}")
