"""Dead statement elimination.

Input: canonical TensorIR. Output: the same outputs, without statements that write a temporary no
later statement reads (and without the declarations of temps nothing writes or reads).
"""

from __future__ import annotations

from dataclasses import replace

from tensorc.ir.tensor_ir import Def
from tensorc.ir.tir_utils import reads


def drop_dead(def_: Def) -> Def:
    temps = {t.name for t in def_.temps}
    body = list(def_.body)
    changed = True
    while changed:
        changed = False
        for k in range(len(body) - 1, -1, -1):
            st = body[k]
            if st.tensor not in temps:
                continue
            later = body[k + 1 :]
            if not any(
                a.tensor == st.tensor
                for s in later
                for e in (s.rhs, s.mask)
                if e is not None
                for a, _ in reads(e)
            ):
                del body[k]
                changed = True
                break
    used = {s.tensor for s in body} | {
        a.tensor for s in body for e in (s.rhs, s.mask) if e is not None for a, _ in reads(e)
    }
    return replace(def_, body=tuple(body), temps=tuple(t for t in def_.temps if t.name in used))
