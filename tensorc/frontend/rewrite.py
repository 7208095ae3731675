"""Syntax-level rewrites done before checking a statement.

- `let` bindings are substituted,
- `softmax(j: e)` becomes `exp(e - logsumexp(j': e[j := j']))` (j stays free),
- reduction binders are renamed apart so every index name of a statement means one index.

Renamed indices remember their original name (`aliases[new] = old`) so that `where` ranges and masks
written for `j` also apply to `j'`.
"""

from __future__ import annotations

import dataclasses

from tensorc.frontend import syntax as S


def subst(node: S.Node, mapping: dict[str, S.Node]) -> S.Node:
    """Replace free occurrences of names (reduction binders shadow)."""
    if not mapping:
        return node
    if isinstance(node, S.Name):
        return mapping.get(node.id, node)
    if isinstance(node, S.Num):
        return node
    if isinstance(node, S.Apply):
        inner = mapping
        if node.binders is not None:
            inner = {k: v for k, v in mapping.items() if k not in {b.id for b in node.binders}}
        return dataclasses.replace(node, args=tuple(subst(a, inner) for a in node.args))
    if isinstance(node, S.Unary):
        return dataclasses.replace(node, x=subst(node.x, mapping))
    if isinstance(node, S.Binary):
        return dataclasses.replace(node, a=subst(node.a, mapping), b=subst(node.b, mapping))
    if isinstance(node, S.Ternary):
        return dataclasses.replace(
            node, cond=subst(node.cond, mapping), a=subst(node.a, mapping), b=subst(node.b, mapping)
        )
    raise AssertionError(f"subst: unexpected node {node!r}")


def all_names(node: S.Node, out: set[str]) -> set[str]:
    """Every identifier in an expression (names, function names, binders)."""
    if isinstance(node, S.Name):
        out.add(node.id)
    elif isinstance(node, S.Apply):
        out.add(node.fn)
        for b in node.binders or ():
            out.add(b.id)
        for a in node.args:
            all_names(a, out)
    elif isinstance(node, S.Unary):
        all_names(node.x, out)
    elif isinstance(node, S.Binary):
        all_names(node.a, out)
        all_names(node.b, out)
    elif isinstance(node, S.Ternary):
        for c in (node.cond, node.a, node.b):
            all_names(c, out)
    return out


class Renamer:
    """Fresh names for one statement: `j` -> `j_1`, `j_2`, ... never clashing with a used name."""

    def __init__(self, used: set[str]):
        self.used = set(used)
        self.aliases: dict[str, str] = {}

    def fresh(self, name: str) -> str:
        root = self.aliases.get(name, name)
        k = 1
        while f"{root}_{k}" in self.used:
            k += 1
        new = f"{root}_{k}"
        self.used.add(new)
        self.aliases[new] = root
        return new

    def expand_softmax(self, node: S.Node) -> S.Node:
        if isinstance(node, S.Apply):
            node = dataclasses.replace(node, args=tuple(self.expand_softmax(a) for a in node.args))
            if node.fn == "softmax" and node.binders is not None and len(node.args) == 1:
                body = node.args[0]
                new = {b.id: S.Name(self.fresh(b.id), b.span) for b in node.binders}
                inner = S.Apply(
                    "logsumexp", (subst(body, new),), tuple(new.values()), False, node.span
                )
                diff = S.Binary("-", body, inner, node.span)
                return S.Apply("exp", (diff,), None, False, node.span)
            return node
        if isinstance(node, S.Unary):
            return dataclasses.replace(node, x=self.expand_softmax(node.x))
        if isinstance(node, S.Binary):
            return dataclasses.replace(
                node, a=self.expand_softmax(node.a), b=self.expand_softmax(node.b)
            )
        if isinstance(node, S.Ternary):
            return dataclasses.replace(
                node,
                cond=self.expand_softmax(node.cond),
                a=self.expand_softmax(node.a),
                b=self.expand_softmax(node.b),
            )
        return node

    def rename_binders(self, node: S.Node, taken: set[str], keep: set[str]) -> S.Node:
        """Rename each binder whose name is already taken (free elsewhere or bound before).

        `keep` names are never renamed (LHS indices: binding one is reported as an error later).
        """
        if isinstance(node, S.Apply):
            if node.binders is None:
                return dataclasses.replace(
                    node, args=tuple(self.rename_binders(a, taken, keep) for a in node.args)
                )
            mapping: dict[str, S.Node] = {}
            binders = []
            for b in node.binders:
                if b.id in taken and b.id not in keep:
                    nb = S.Name(self.fresh(b.id), b.span)
                    mapping[b.id] = nb
                    binders.append(nb)
                else:
                    binders.append(b)
                taken.add(binders[-1].id)
            args = tuple(subst(a, mapping) for a in node.args)
            args = tuple(self.rename_binders(a, taken, keep) for a in args)
            return dataclasses.replace(node, args=args, binders=tuple(binders))
        if isinstance(node, S.Unary):
            return dataclasses.replace(node, x=self.rename_binders(node.x, taken, keep))
        if isinstance(node, S.Binary):
            return dataclasses.replace(
                node,
                a=self.rename_binders(node.a, taken, keep),
                b=self.rename_binders(node.b, taken, keep),
            )
        if isinstance(node, S.Ternary):
            return dataclasses.replace(
                node,
                cond=self.rename_binders(node.cond, taken, keep),
                a=self.rename_binders(node.a, taken, keep),
                b=self.rename_binders(node.b, taken, keep),
            )
        return node


def free_names(node: S.Node, bound: frozenset[str] = frozenset(), out: list[str] | None = None):
    """Names used as values outside any binder that binds them, in order of first appearance."""
    out = [] if out is None else out
    if isinstance(node, S.Name):
        if node.id not in bound and node.id not in out:
            out.append(node.id)
    elif isinstance(node, S.Apply):
        inner = bound | {b.id for b in node.binders} if node.binders is not None else bound
        for a in node.args:
            free_names(a, inner, out)
    elif isinstance(node, S.Unary):
        free_names(node.x, bound, out)
    elif isinstance(node, S.Binary):
        free_names(node.a, bound, out)
        free_names(node.b, bound, out)
    elif isinstance(node, S.Ternary):
        for c in (node.cond, node.a, node.b):
            free_names(c, bound, out)
    return out
