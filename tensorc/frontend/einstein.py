"""Einstein's implicit-sum rule, placed at the product term (LANGUAGE.md section 2).

In a `=` statement an index used on the right but not on the left is summed, and the sum sits at the
*product term* that holds it: the smallest subexpression holding every occurrence, widened while its
parent is `*`, `/`, a unary minus or a cast. A reduction's body is a term of its own; the operands of
`+`, `-`, comparisons, `&&`/`||` and `?:` are not merged. An index whose term lies inside the argument
of a nonlinear function (`exp`, `relu`, `fmax`, ...) or of a comparison is an error: the user must
say which was meant.

    C(m,n) = A(m,k) * B(k,n) + bias(n)      ->  sum(k: A(m,k) * B(k,n)) + bias(n)
    o(i,e) = softmax(j: q(i,d) * k(j,d)) * v(j,e)
                                            ->  sum(j: softmax(j: sum(d: q * k)) * v(j,e))

`place_sums` rewrites the syntax tree with explicit `sum(...)` nodes, before softmax is expanded, so
everything after it (typing, ranges, masks, `tensorc ir`) sees ordinary reductions. A `softmax(j: e)`
counts as an occurrence of `j`: its `j` stays free and contracts with what follows.
"""

from __future__ import annotations

import dataclasses

from tensorc.errors import StatementError, warn
from tensorc.frontend import syntax as S
from tensorc.frontend.names import DTYPE_NAMES
from tensorc.frontend.unparse import unparse

Path = tuple[int, ...]  # child positions from the root (see `children`)

# Parents a term widens through: products, quotients, negation; casts are Apply nodes (below).
_WIDEN_BINARY = ("*", "/")


def children(node: S.Node) -> tuple[S.Node, ...]:
    if isinstance(node, S.Apply):
        return node.args
    if isinstance(node, S.Unary):
        return (node.x,)
    if isinstance(node, S.Binary):
        return (node.a, node.b)
    if isinstance(node, S.Ternary):
        return (node.cond, node.a, node.b)
    return ()


def with_children(node: S.Node, kids: tuple[S.Node, ...]) -> S.Node:
    if isinstance(node, S.Apply):
        return dataclasses.replace(node, args=kids)
    if isinstance(node, S.Unary):
        return dataclasses.replace(node, x=kids[0])
    if isinstance(node, S.Binary):
        return dataclasses.replace(node, a=kids[0], b=kids[1])
    if isinstance(node, S.Ternary):
        return dataclasses.replace(node, cond=kids[0], a=kids[1], b=kids[2])
    return node


def at(root: S.Node, path: Path) -> S.Node:
    for k in path:
        root = children(root)[k]
    return root


def is_reduction(node: S.Node) -> bool:
    return isinstance(node, S.Apply) and node.binders is not None


def is_cast(node: S.Node) -> bool:
    return isinstance(node, S.Apply) and node.binders is None and node.fn in DTYPE_NAMES


def occurrences(node: S.Node, names: set[str], path: Path = (), bound=frozenset(), out=None):
    """index name -> paths of its free occurrences; a softmax binding the name is one."""
    out = {} if out is None else out
    if isinstance(node, S.Name):
        if node.id in names and node.id not in bound:
            out.setdefault(node.id, []).append(path)
        return out
    if is_reduction(node):
        binders = {b.id for b in node.binders}
        if node.fn == "softmax":
            for b in binders & names:
                if b not in bound:
                    out.setdefault(b, []).append(path)
        bound = bound | binders
    for k, c in enumerate(children(node)):
        occurrences(c, names, (*path, k), bound, out)
    return out


def implicit_indices(rhs: S.Node, lhs: tuple[str, ...], not_indices: set[str]) -> list[str]:
    """Indices used on the right but not on the left, in order of first use (softmax binders too)."""
    found: list[str] = []

    def go(node: S.Node, bound: frozenset[str]) -> None:
        if isinstance(node, S.Name):
            if node.id not in bound and node.id not in found:
                found.append(node.id)
            return
        if is_reduction(node):
            binders = [b.id for b in node.binders]
            if node.fn == "softmax":
                found.extend(b for b in binders if b not in bound and b not in found)
            bound = bound | set(binders)
        for c in children(node):
            go(c, bound)

    go(rhs, frozenset())
    return [n for n in found if n not in lhs and n not in not_indices]


def term_of(rhs: S.Node, paths: list[Path], tensors: set[str]) -> Path:
    """The product term holding every path: their common ancestor, lifted out of index expressions
    (a term is never inside a tensor's subscript), then widened through `*`, `/`, `-x` and casts."""
    lca: Path = paths[0]
    for p in paths[1:]:
        n = 0
        while n < min(len(lca), len(p)) and lca[n] == p[n]:
            n += 1
        lca = lca[:n]
    for n in range(len(lca)):  # the outermost tensor access above the common ancestor
        node = at(rhs, lca[:n])
        if isinstance(node, S.Apply) and node.binders is None and node.fn in tensors:
            lca = lca[:n]
            break
    while lca:
        parent = at(rhs, lca[:-1])
        widen = (
            (isinstance(parent, S.Binary) and parent.op in _WIDEN_BINARY)
            or (isinstance(parent, S.Unary) and parent.op == "-")
            or is_cast(parent)
        )
        if not widen:
            break
        lca = lca[:-1]
    return lca


_COMPARISONS = ("==", "!=", "<", "<=", ">", ">=", "&&", "||")


def nonlinear_parent(rhs: S.Node, path: Path, tensors: set[str]) -> S.Node | None:
    """The innermost function call (not a reduction, cast or tensor read) whose argument holds
    `path`. Reductions in between do not help: in `exp(-sum(d: (x(i,d) - x(j,d))**2))` every
    use of `j` is still inside `exp`'s argument."""
    for n in range(len(path) - 1, -1, -1):
        node = at(rhs, path[:n])
        is_call = isinstance(node, S.Apply) and node.fn not in tensors
        if is_call and not is_reduction(node) and not is_cast(node):
            return node
        if (isinstance(node, S.Binary) and node.op in _COMPARISONS) or (
            isinstance(node, S.Unary) and node.op == "!"
        ):
            return node  # `x(i,j) > 0 ? 1 : 0`: count the positives, or test the row sum?
    return None


def place_sums(rhs: S.Node, lhs: tuple[str, ...], tensors: set[str], sizes: set[str]) -> S.Node:
    """`rhs` with every implicit index summed explicitly at its product term (see module doc).

    `tensors`: the def's tensor names (an `Apply` of one is a read, of anything else a function
    call); `sizes`: size symbols (values, not indices)."""
    names = implicit_indices(rhs, lhs, tensors | sizes | {"true", "false"})
    if not names:
        return rhs
    occ = occurrences(rhs, set(names))
    placed: dict[Path, list[str]] = {}
    for name in names:
        path = term_of(rhs, occ[name], tensors)
        call = nonlinear_parent(rhs, path, tensors)
        if call is not None:
            _nonlinear_error(name, call, at(rhs, path))
        placed.setdefault(path, []).append(name)
    for path, group in placed.items():
        _warn_quotient(rhs, path, {n: occ[n] for n in group})
    return _wrap(rhs, (), placed)


def _wrap(node: S.Node, path: Path, placed: dict[Path, list[str]]) -> S.Node:
    kids = tuple(_wrap(c, (*path, k), placed) for k, c in enumerate(children(node)))
    node = with_children(node, kids) if kids else node
    if path in placed:
        binders = tuple(S.Name(n, _span_of(node)) for n in placed[path])
        node = S.Apply("sum", (node,), binders, False, _span_of(node))
    return node


def _span_of(node: S.Node):
    return getattr(node, "span", None)


def _nonlinear_error(name: str, call: S.Node, term: S.Node) -> None:
    body = unparse(call)
    inner = unparse(term)
    outer = body.replace(inner, f"sum({name}: {inner})", 1)
    if isinstance(call, S.Apply):
        what, many, one = f"{call.fn}(...)", f"a sum of {call.fn}s", f"{call.fn} of a sum"
        eg = (" (e.g. a kernel sum)", " (e.g. a layer)")
    else:
        op = call.op
        what, many, one = f"a '{op}'", f"a sum over the '{op}' results", f"'{op}' on a sum"
        eg = (" (e.g. a count)", " (e.g. a test of the row sum)")
        body = f"int32({body})"  # a sum of bools is written through a cast
    raise StatementError(
        f"implicit index '{name}' is used only inside {what}: {many} or {one}?",
        call.span,
        f"write the sum where you mean it: `sum({name}: {body})`{eg[0]} or `{outer}`{eg[1]}",
    )


def _warn_quotient(rhs: S.Node, term_path: Path, occ: dict[str, list[Path]]) -> None:
    """Implicit indices on both sides of one `/` in their term sum numerator and denominator
    together (`pq*pk*v / (pq*pk)`): almost always meant as a ratio of two sums."""
    both: dict[tuple, list[str]] = {}
    for name, paths in occ.items():
        for n in range(len(term_path), min(len(p) for p in paths)):
            node = at(rhs, paths[0][:n])
            if not all(p[:n] == paths[0][:n] for p in paths):
                break
            if isinstance(node, S.Binary) and node.op == "/":
                if {p[n] for p in paths} == {0, 1}:
                    both.setdefault(paths[0][:n], []).append(name)
                break
    for qpath, names in both.items():
        node, ix = at(rhs, qpath), ", ".join(names)
        quoted = " and ".join(f"'{x}'" for x in names)
        warn(
            f"implicit ind{'ex' if len(names) == 1 else 'ices'} {quoted} occur{'s' if len(names) == 1 else ''} on both sides of '/': "
            "the sum covers the whole quotient, not the numerator and the denominator separately",
            node.span,
            f"for a ratio of sums write `sum({ix}: {unparse(node.a)}) / sum({ix}: "
            f"{unparse(node.b)})`; to keep this meaning write `sum({ix}: {unparse(at(rhs, term_path))})`",
        )
