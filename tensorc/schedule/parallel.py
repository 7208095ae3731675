"""One parallel loop per kernel, as wide as its nest: `parallel for b / parallel for h / parallel
for i` becomes one parallel loop over (b, h, i).

The cpu backend splits a kernel's top-level parallel loop across its threads (and only that one:
`backends/llvm/render.split_target`). With a specialised batch of 1 or 2 (`B=1` baked in) that
loop has one or two iterations and a kernel over B x H x N rows ran on one or two threads. A
parallel loop with a constant extent below COLLAPSE_BELOW whose body is exactly one parallel loop
(bounds free of the outer variable, both of step 1) is merged with it:

    parallel for t in [0, n_b * n_h) { let b = t // n_h; let h = t % n_h; <h's body> }

and again, while the result qualifies. Target "cpu" only (Triton maps loops to its grid).
"""

from __future__ import annotations

from tensorc.ir import loop_ir as L
from tensorc.schedule.lexpr import I64, iadd, imul, isub, lvars

COLLAPSE_BELOW = 64  # an outer extent at least this large already feeds every thread


def _const_extent(loop: L.Loop) -> int | None:
    if isinstance(loop.start, L.Const) and isinstance(loop.stop, L.Const):
        return max(int(loop.stop.value) - int(loop.start.value), 0)
    return None


def _mergeable(loop: L.Stmt) -> bool:
    if not (isinstance(loop, L.Loop) and loop.kind == "parallel" and loop.step == 1):
        return False
    n = _const_extent(loop)
    if n is None or n >= COLLAPSE_BELOW or not loop.body:
        return False
    *lets, inner = loop.body
    if not all(isinstance(x, L.Let) for x in lets):
        return False
    bound = {loop.var} | {x.name for x in lets}
    return (
        isinstance(inner, L.Loop)
        and inner.kind == "parallel"
        and inner.step == 1
        and not bound & (lvars(inner.start) | lvars(inner.stop))
    )


def _merged(outer: L.Loop, fresh) -> L.Loop:
    """`outer` and its inner loop as one loop (the lets between them keep their place)."""
    *lets, inner = outer.body
    n_inner = isub(inner.stop, inner.start)
    t = fresh("t")
    body = (
        L.Let(outer.var, iadd(outer.start, L.Call("floordiv", (L.Var(t), n_inner), I64))),
        *lets,
        L.Let(inner.var, iadd(inner.start, L.Call("mod", (L.Var(t), n_inner), I64))),
        *inner.body,
    )
    stop = imul(L.Const(_const_extent(outer), I64), n_inner)
    return L.Loop(t, L.Const(0, I64), stop, body, kind="parallel")


def _defined(stmts, out: set[str]) -> set[str]:
    for s in stmts:
        for attr in ("var", "name"):
            if isinstance(getattr(s, attr, None), str):
                out.add(getattr(s, attr))
        _defined(getattr(s, "body", ()), out)
    return out


def collapse_parallel(body: tuple[L.Stmt, ...], used: set[str]) -> tuple[L.Stmt, ...]:
    """`body` (a kernel's top level) with its one top-level parallel nest merged (see above);
    `used`: names the kernel reads, which the new loop variables avoid."""
    loops = [k for k, s in enumerate(body) if isinstance(s, L.Loop)]
    if len(loops) != 1 or not _mergeable(body[loops[0]]):
        return body
    taken = _defined(body, set(used))

    def fresh(base: str) -> str:
        name, n = base, 1
        while name in taken:
            name, n = f"{base}{n}", n + 1
        taken.add(name)
        return name

    k = loops[0]
    loop = body[k]
    while _mergeable(loop):
        loop = _merged(loop, fresh)
    return body[:k] + (loop,) + body[k + 1 :]
