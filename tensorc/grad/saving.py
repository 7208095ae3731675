"""The saving forward: a def that also outputs the values its backward would recompute."""

from __future__ import annotations

from dataclasses import replace

from tensorc.grad.build import tensors_read
from tensorc.grad.reverse import _Reverse
from tensorc.ir.tensor_ir import Def
from tensorc.ir.types import is_float


def saving_forward(d: Def) -> tuple[Def, tuple[str, ...]]:
    """`d` with the reduction values its backward would recompute (`_Reverse.hoist`: a
    logsumexp, an argmax, over its free indices) as extra outputs, and their names. Flash
    attention writes its rows' logsumexp from the running max and sum it keeps anyway, so the
    backward reads it instead of a pass over the keys (elsewhere the pass moves to the forward).
    A value that reads an earlier version of an updated tensor stays in the backward: the
    forward has no name for it."""
    r = _Reverse(d, tuple(t.name for t in d.inputs if is_float(t.dtype)))
    r.run()
    writes = [st.tensor for st in d.body]
    named = {t.name for t in d.inputs} | {t for t in writes if writes.count(t) == 1}
    extra = [
        st for st in r.recompute
        if tensors_read(st.rhs) <= named and all(g.lo == 0 for g in st.domain)
    ]  # fmt: skip
    decls = tuple(replace(r.temps[st.tensor], role="output") for st in extra)
    aug = replace(d, outputs=(*d.outputs, *decls), body=(*d.body, *extra))
    return aug, tuple(st.tensor for st in extra)
