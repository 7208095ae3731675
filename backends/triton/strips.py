"""Strip-mined parallel loops merged back, before a kernel is rendered.

A schedule may tile a parallel loop for the CPU's sake (`parallel b_t in [0, B) step 64` around
`parallel b in [b_t, min(b_t + 64, B))`, W4 attention at B > 16). Triton flattens a parallel nest
into lanes or programs anyway, and a nest whose bounds read an outer loop variable stops that
flattening: the batch became one lane, and the flash path did not recognise the kernel. So:

    kernel body with strip-mined parallel pairs -> the same body with each pair one parallel loop
    over the outer range (same iterations, same order within a lane), when nothing else reads the
    strip variable.
"""

from __future__ import annotations

import dataclasses

from tensorc.ir import loop_ir as L


def merge_strips(body: tuple[L.Stmt, ...]) -> tuple[L.Stmt, ...]:
    """`body` with every strip-mined parallel pair along the leading parallel nest merged."""
    out = []
    for s in body:
        if isinstance(s, L.Loop) and s.kind == "parallel":
            s = _merged(s) or s
            s = dataclasses.replace(s, body=merge_strips(s.body))
        out.append(s)
    return tuple(out)


def _merged(outer: L.Loop) -> L.Loop | None:
    """`parallel t in [lo, hi) step T { parallel x in [t, min(t + T, hi)) {...} }` as
    `parallel x in [lo, hi) {...}`, or None when `outer` is not such a pair."""
    if outer.step <= 1 or len(outer.body) != 1:
        return None
    inner = outer.body[0]
    if not (isinstance(inner, L.Loop) and inner.kind == "parallel" and inner.step == 1):
        return None
    t = outer.var
    if not (isinstance(inner.start, L.Var) and inner.start.name == t):
        return None
    if not (isinstance(inner.stop, L.Call) and inner.stop.fn == "min"):
        return None
    args = inner.stop.args
    ends = [a for a in args if _is_strip_end(a, t, outer.step)]
    rest = [a for a in args if a not in ends]
    if len(ends) != 1 or rest != [outer.stop] or _mentions(inner.body, t):
        return None
    return dataclasses.replace(inner, start=outer.start, stop=outer.stop)


def _is_strip_end(e: L.LExpr, t: str, step: int) -> bool:
    """`e` is `t + step` (either order)."""
    if not (isinstance(e, L.Call) and e.fn == "add" and len(e.args) == 2):
        return False
    for a, b in (e.args, e.args[::-1]):
        if isinstance(a, L.Var) and a.name == t and isinstance(b, L.Const):
            return b.value == step
    return False


def _mentions(node, name: str) -> bool:
    """Whether a LoopIR node (or a tuple of them) reads the variable `name` anywhere."""
    if isinstance(node, L.Var):
        return node.name == name
    if isinstance(node, tuple):
        return any(_mentions(x, name) for x in node)
    if dataclasses.is_dataclass(node):
        return any(_mentions(getattr(node, f.name), name) for f in dataclasses.fields(node))
    return False
