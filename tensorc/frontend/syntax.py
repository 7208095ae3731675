"""The syntax tree of a .tc file: small frozen nodes, each with the `Span` it came from.

Built by `parser.py` from the Lark tree, read by `sema.py`. Nothing here is checked yet: names are
plain strings, dtypes are spelled as written, and `Apply` covers tensor reads, builtins, casts and
reductions alike (`sema` tells them apart).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tensorc.errors import Span


class Node:
    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Num(Node):
    text: str
    is_float: bool
    span: Span | None = field(default=None, compare=False, hash=False)


@dataclass(frozen=True, slots=True)
class Name(Node):
    id: str
    span: Span | None = field(default=None, compare=False, hash=False)


@dataclass(frozen=True, slots=True)
class Apply(Node):
    """`f(args)` or `T[args]`; with a colon, `f(i, j: body, extra...)` (a reduction)."""

    fn: str
    args: tuple[Node, ...]
    binders: tuple[Name, ...] | None = None  # the names before ':' (None: no colon)
    bracket: bool = False
    span: Span | None = field(default=None, compare=False, hash=False)


@dataclass(frozen=True, slots=True)
class Unary(Node):
    op: str  # "-" | "!"
    x: Node
    span: Span | None = field(default=None, compare=False, hash=False)


@dataclass(frozen=True, slots=True)
class Binary(Node):
    op: str  # + - * / // % == != < <= > >= && ||
    a: Node
    b: Node
    span: Span | None = field(default=None, compare=False, hash=False)


@dataclass(frozen=True, slots=True)
class Ternary(Node):
    cond: Node
    a: Node
    b: Node
    span: Span | None = field(default=None, compare=False, hash=False)


# --- where clauses -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RangeClause(Node):
    index: Name
    lo: Node
    hi: Node
    span: Span | None = field(default=None, compare=False, hash=False)


@dataclass(frozen=True, slots=True)
class LetClause(Node):
    name: Name
    value: Node
    span: Span | None = field(default=None, compare=False, hash=False)


@dataclass(frozen=True, slots=True)
class ExistsClause(Node):
    expr: Node
    span: Span | None = field(default=None, compare=False, hash=False)


@dataclass(frozen=True, slots=True)
class MaskClause(Node):
    cond: Node
    span: Span | None = field(default=None, compare=False, hash=False)


# --- statements and defs -------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Stmt(Node):
    tensor: Name
    indices: tuple[Name, ...]
    op: str  # "=", "+=!", "max=", ...
    rhs: Node
    clauses: tuple[Node, ...]
    span: Span | None = field(default=None, compare=False, hash=False)


@dataclass(frozen=True, slots=True)
class Param(Node):
    """`float(M, K) A`; `dtype is None` for an untyped output; `dims is None` for a scalar."""

    dtype: Name | None
    dims: tuple[Node, ...] | None
    name: Name
    span: Span | None = field(default=None, compare=False, hash=False)


@dataclass(frozen=True, slots=True)
class DefNode(Node):
    name: Name
    params: tuple[Param, ...]
    outputs: tuple[Param, ...]
    stmts: tuple[Stmt, ...]
    span: Span | None = field(default=None, compare=False, hash=False)


@dataclass(frozen=True, slots=True)
class Module(Node):
    defs: tuple[DefNode, ...]
    file: str = "<string>"
