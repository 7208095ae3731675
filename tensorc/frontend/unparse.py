"""Syntax tree -> .tc text, with the fewest parentheses that keep the meaning.

Used by messages that show a fix in the user's own terms (`sum(j: exp(-d(i,j)))`).

>>> from tensorc.frontend import syntax as S
>>> unparse(S.Binary("*", S.Binary("+", S.Name("a"), S.Name("b")), S.Name("c")))
'(a + b) * c'
"""

from __future__ import annotations

from tensorc.frontend import syntax as S

# Binding strength, loosest first (the grammar's order).
_PREC = {
    "?:": 1,
    "||": 2,
    "&&": 3,
    "==": 4,
    "!=": 4,
    "<": 5,
    "<=": 5,
    ">": 5,
    ">=": 5,
    "+": 6,
    "-": 6,
    "*": 7,
    "/": 7,
    "//": 7,
    "%": 7,
}
_UNARY = 8


def unparse(node: S.Node) -> str:
    return _go(node)[0]


def _go(node: S.Node) -> tuple[str, int]:
    """(text, precedence of its outermost operator)."""
    if isinstance(node, S.Num):
        return node.text, 99
    if isinstance(node, S.Name):
        return node.id, 99
    if isinstance(node, S.Apply):
        args = ", ".join(unparse(a) for a in node.args)
        if node.binders is not None:
            args = ", ".join(b.id for b in node.binders) + ": " + args
        open_, close = ("[", "]") if node.bracket else ("(", ")")
        return f"{node.fn}{open_}{args}{close}", 99
    if isinstance(node, S.Unary):
        x, p = _go(node.x)
        return node.op + (x if p >= _UNARY else f"({x})"), _UNARY
    if isinstance(node, S.Binary):
        p = _PREC[node.op]
        (a, pa), (b, pb) = _go(node.a), _go(node.b)
        a = a if pa > p or (pa == p and p > 5) else f"({a})"  # comparisons do not chain
        b = b if pb > p else f"({b})"  # left-associative: a - (b - c) keeps its parentheses
        return f"{a} {node.op} {b}", p
    if isinstance(node, S.Ternary):
        c, a, b = (_go(x) for x in (node.cond, node.a, node.b))
        parts = [t if pt > _PREC["?:"] else f"({t})" for t, pt in (c, a, b)]
        return f"{parts[0]} ? {parts[1]} : {parts[2]}", _PREC["?:"]
    raise AssertionError(f"unparse: unexpected node {node!r}")
