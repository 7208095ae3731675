"""The one canonical printer of TensorIR: valid .tc source that re-parses to the same Program.

Canonical text: typed signature (`float32(M, K) A`), every reduction explicit (`sum(k: ...)`), and a
`where` clause giving the range of every index (LHS first, then reductions in pre-order) followed by
the masks. Temporaries are listed in a comment (they are inferred again on parsing).
Deterministic: no ids, no dict-order dependence.

    >>> from tensorc.frontend import parse_program
    >>> print(print_program(parse_program("def f(float(N) a) -> (b) { b(i) = a(i) * 2 }")), end="")
    def f(float32(N) a) -> (float32(N) b) {
        b(i) = a(i) * 2 where i in 0:N
    }
"""

from __future__ import annotations

import sympy

from tensorc.ir.tensor_ir import (
    Access,
    Call,
    Const,
    Def,
    Expr,
    Index,
    Program,
    Reduce,
    Statement,
    TensorDecl,
)
from tensorc.ir.verifier import size_value_of, walk

_BIN = {
    "add": ("+", 5),
    "sub": ("-", 5),
    "mul": ("*", 6),
    "div": ("/", 6),
    "floordiv": ("//", 6),
    "mod": ("%", 6),
    "lt": ("<", 4),
    "le": ("<=", 4),
    "gt": (">", 4),
    "ge": (">=", 4),
    "eq": ("==", 4),
    "ne": ("!=", 4),
    "and": ("&&", 3),
    "or": ("||", 2),
}
_ATOM = 8
_UNARY = 7


def print_program(prog: Program) -> str:
    return "\n\n".join(print_def(d) for d in prog.defs) + "\n"


def print_def(d: Def) -> str:
    params = ", ".join(_decl(t) for t in d.inputs)
    outs = ", ".join(_decl(t) for t in d.outputs)
    lines = [f"def {d.name}({params}) -> ({outs}) {{"]
    for t in d.temps:
        lines.append(f"    # temp {_decl(t)}")
    lines += [f"    {print_statement(st)}" for st in d.body]
    lines.append("}")
    return "\n".join(lines)


def print_statement(st: Statement) -> str:
    """One statement as it reads in a def: `lhs = rhs where ranges, masks`."""
    lhs = st.tensor + (f"({', '.join(st.indices)})" if st.indices else "")
    clauses = [f"{r.index} in {print_bound(r.lo)}:{print_bound(r.hi)}" for r in st.domain]
    reduces = [x for x in walk(st.rhs) if isinstance(x, Reduce) and size_value_of(x) is None]
    for red in reduces:
        clauses += [f"{r.index} in {print_bound(r.lo)}:{print_bound(r.hi)}" for r in red.ranges]
    clauses += [print_expr(m) for m in _ordered_masks(st.mask, reduces)]
    where = f" where {', '.join(clauses)}" if clauses else ""
    return f"{lhs} = {print_expr(st.rhs)}{where}"


def _decl(t: TensorDecl) -> str:
    dims = f"({', '.join(print_bound(s) for s in t.shape)})" if t.shape else ""
    return f"{t.dtype}{dims} {t.name}"


def _conj(e: Expr | None) -> list[Expr]:
    if e is None:
        return []
    if isinstance(e, Call) and e.fn == "and":
        return _conj(e.args[0]) + _conj(e.args[1])
    return [e]


def _ordered_masks(stmt_mask, reduces) -> list[Expr]:
    """All mask conjuncts once, in an order consistent with every node's own order."""
    lists = [_conj(stmt_mask)] + [_conj(r.mask) for r in reduces]
    out: list[Expr] = []
    for lst in lists:
        anchor = len(out)  # a new conjunct goes before the next one of its list already placed
        for c in reversed(lst):
            if c in out:
                anchor = min(anchor, out.index(c))
            else:
                out.insert(anchor, c)
    return out


def print_expr(e: Expr) -> str:
    return _expr(e, 0)


def _paren(text: str, prec: int, need: int) -> str:
    return f"({text})" if prec < need else text


def _expr(e: Expr, need: int) -> str:
    if isinstance(e, Const):
        if isinstance(e.value, bool):
            return "true" if e.value else "false"
        text = repr(e.value) if isinstance(e.value, float) else str(int(e.value))
        prec = _UNARY if text.startswith("-") else _ATOM
        return _paren(text, prec, need)
    if isinstance(e, Index):
        return e.name
    if isinstance(e, Access):
        if not e.indices:
            return e.tensor
        return f"{e.tensor}({', '.join(_expr(i, 0) for i in e.indices)})"
    if isinstance(e, Reduce):
        size = size_value_of(e)
        if size is not None:  # a size used as a value (see frontend/exprs.py)
            return size
        extra = f", {e.k}" if e.op in ("kmin", "argkmin") else ""
        idx = ", ".join(r.index for r in e.ranges)
        return f"{e.op}({idx}: {_expr(e.body, 0)}{extra})"
    if isinstance(e, Call):
        if e.fn in _BIN:
            sym, prec = _BIN[e.fn]
            if prec == 4:  # comparisons do not chain
                text = f"{_expr(e.args[0], 5)} {sym} {_expr(e.args[1], 5)}"
            else:
                text = f"{_expr(e.args[0], prec)} {sym} {_expr(e.args[1], prec + 1)}"
            return _paren(text, prec, need)
        if e.fn == "neg":
            return _paren(f"-{_expr(e.args[0], _UNARY)}", _UNARY, need)
        if e.fn == "not":
            return _paren(f"!{_expr(e.args[0], _UNARY)}", _UNARY, need)
        if e.fn == "select":
            c, a, b = e.args
            return _paren(f"{_expr(c, 2)} ? {_expr(a, 1)} : {_expr(b, 1)}", 1, need)
        if e.fn == "cast":
            return f"{e.dtype}({_expr(e.args[0], 0)})"
        return f"{e.fn}({', '.join(_expr(a, 0) for a in e.args)})"
    raise AssertionError(f"print_expr: unknown node {e!r}")


# --- sympy bounds ------------------------------------------------------------------------------
def print_bound(b) -> str:
    """A sympy size expression as tensorc source (`//` floor division, `%` modulo)."""
    return _sym(sympy.sympify(b), 0)


def _sym(e, need: int) -> str:
    if e.is_Integer:
        return _paren(str(int(e)), _UNARY if e < 0 else _ATOM, need)
    if e.is_Symbol:
        return e.name
    if isinstance(e, sympy.Add):
        terms = e.as_ordered_terms()
        text = _sym(terms[0], 5)
        for t in terms[1:]:
            c, rest = t.as_coeff_Mul()
            if c.is_negative:
                text += f" - {_sym(-t, 6)}"
            else:
                text += f" + {_sym(t, 6)}"
        return _paren(text, 5, need)
    if isinstance(e, sympy.Mul):
        c, rest = e.as_coeff_Mul()
        if c == -1:
            return _paren(f"-{_sym(rest, _UNARY)}", _UNARY, need)
        if c.is_Rational and not c.is_Integer:
            raise AssertionError(f"print_bound: non-integer size expression {e}")
        factors = ([c] if c != 1 else []) + list(rest.as_ordered_factors())
        text = " * ".join(_sym(f, 7) for f in factors)
        return _paren(text, 6, need)
    if isinstance(e, sympy.Pow) and e.exp.is_Integer and e.exp > 0:
        return _paren(" * ".join([_sym(e.base, 7)] * int(e.exp)), 6, need)
    if isinstance(e, sympy.floor):
        num, den = sympy.fraction(sympy.together(e.args[0]))
        return _paren(f"{_sym(num, 6)} // {_sym(den, 7)}", 6, need)
    if isinstance(e, sympy.Mod):
        return _paren(f"{_sym(e.args[0], 6)} % {_sym(e.args[1], 7)}", 6, need)
    if isinstance(e, sympy.Max | sympy.Min):
        fn = "max" if isinstance(e, sympy.Max) else "min"
        args = list(e.args)
        text = _sym(args[0], 0)
        for a in args[1:]:
            text = f"{fn}({text}, {_sym(a, 0)})"
        return text
    raise AssertionError(f"print_bound: cannot print {e!r}")
