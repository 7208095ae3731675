"""Masks travel with temporaries (LANGUAGE.md section 2).

A temporary written under a mask (`s(i,j) = q(i,d) * k(j,d) where j <= i`) is defined only where the
mask holds. Every later read `s(a, b)` carries the mask, with the temporary's indices replaced by the
read's index expressions (`b <= a`), to the innermost reduction that binds one of its indices: that
reduction iterates only where `s` is defined, exactly as if the mask were written on the reading
statement. A read whose mask names no reduction index makes the reading statement's element
undefined there (its statement mask: the element keeps the identity, 0), with a warning.

Once every read carries its mask, the temporary's own mask is dropped: the elements outside it are
never read, so the temporary is a plain one that the passes may fuse away (W4 written with the mask
on the score temporary becomes W4).
"""

from __future__ import annotations

import dataclasses

from tensorc.errors import Span, warn
from tensorc.ir.tensor_ir import Access, Expr, Reduce, map_children
from tensorc.ir.tir_utils import conjoin, conjuncts, substitute
from tensorc.ir.verifier import index_names


def inherit_masks(
    rhs: Expr, masks: dict[str, tuple[tuple[str, ...], Expr]], span: Span | None
) -> tuple[Expr, Expr | None]:
    """`rhs` with the masks of the masked temporaries it reads attached to its reductions, and the
    conditions that land on no reduction (for the reading statement's own mask)."""
    outer: list[Expr] = []

    def go(e: Expr, scope: tuple[Reduce, ...], pending: list[list[Expr]]) -> Expr:
        if isinstance(e, Access) and e.tensor in masks:
            names, mask = masks[e.tensor]
            cond = substitute(mask, dict(zip(names, e.indices, strict=True)))
            used = index_names(cond)
            for depth in range(len(scope) - 1, -1, -1):
                if {r.index for r in scope[depth].ranges} & used:
                    pending[depth].append(cond)
                    break
            else:
                outer.append(cond)
        if isinstance(e, Reduce):
            mine: list[Expr] = []
            body = go(e.body, (*scope, e), [*pending, mine])
            have = conjuncts(e.mask)
            mask = conjoin([*have, *(c for c in dict.fromkeys(mine) if c not in have)])
            return dataclasses.replace(e, body=body, mask=mask)
        return map_children(e, lambda c: go(c, scope, pending))

    out = go(rhs, (), [])
    stmt_mask = conjoin(list(dict.fromkeys(outer)))
    if outer:
        warn(
            "this statement reads a temporary outside a reduction, and the temporary is defined "
            "only under a mask: the result is undefined (0) where the mask fails",
            span,
            "write the mask on this statement too (`where ...`), or read the temporary inside a "
            "reduction, which then skips the undefined elements",
        )
    return out, stmt_mask
