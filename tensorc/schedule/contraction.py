"""Contractions to `Gemm`: matmul / bmm / Gram shapes, n-ary networks, and the Gram rewrite.

- `lower_contraction`: a statement whose RHS holds one `sum_K (alpha * X(..) * Y(..) [* Z(..) ...])`
  over all its LHS indices (the rest of the RHS pointwise) becomes pairwise `Gemm`s. With three or
  more operands the contraction planner orders the steps; each step picks which operand is the
  Gemm's A and which its B (`_oriented`: big operands read along their contiguous index), its
  result is a temp laid out (batch, m, n) so each next step reads it with plain strides (or, when
  the step reading it sums it with an input over several indices, with those indices together in
  the input's order: `_layout`), a step repeating an earlier one reuses its result, and big steps
  get kernels of their own so that the threads share them (`OWN_KERNEL_FLOPS`; few-row Gemms by
  column blocks; the b, m, n loops around a Gemm are parallel). Index groups
  (batch, m, n, k) that are not contiguous in some operand are split: the mergeable innermost run
  is the Gemm dimension, the rest become loops around it. Any pointwise epilogue runs in its own
  loop nest over the result.
- Gram statements (`sum_d (x(i,d) - y(j,d))^2`, symmetric `x(i,d) * x(j,d)`): tensorc/schedule/gram.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import sympy
from opt_einsum import get_symbol

from tensorc.ir import loop_ir as L
from tensorc.ir import tensor_ir as T
from tensorc.ir.tir_utils import free_indices, product_factors, walk
from tensorc.ir.types import compute_dtype
from tensorc.schedule.lexpr import call, const, iadd, imax, imin, imul, isub, sym_to_lexpr
from tensorc.schedule.loop_nest import lower_nest
from tensorc.schedule.operands import (
    View,
    plain_access,
    replace_node,
    same_extent,
    scalar_alpha,
    with_temps,
)


@dataclass
class GemmLike:
    reduce: T.Reduce
    operands: list[T.Access]
    scalars: list[T.Expr]


def gemm_like(def_: T.Def, r: T.Reduce, lhs: set[str]) -> GemmLike | None:
    if r.op != "sum" or r.mask is not None or any(not T.is_zero(g.lo) for g in r.ranges):
        return None
    ops, scal = [], []
    for f in product_factors(r.body):
        if isinstance(f, T.Access) and f.indices and plain_access(f):
            ops.append(f)
        elif isinstance(f, T.Const) or (isinstance(f, T.Access) and not f.indices):
            scal.append(f)
        else:
            return None
    if len(ops) < 2 or any(o.dtype != ops[0].dtype for o in ops):
        return None
    red = {g.index for g in r.ranges}
    used = {i.name for o in ops for i in o.indices}
    if not used <= lhs | red or not red <= used:
        return None
    for o in ops:  # an operand's indices must cover its whole shape (offset 0, full extent)
        shape = def_.tensor(o.tensor).shape
        if len(shape) != len(o.indices):
            return None
    return GemmLike(r, ops, scal)


def _merge(group: list[str], views: list[View], ext: dict) -> tuple[list[str], list[str]]:
    """Split `group` into (loop indices, merged innermost run) so the run is one strided dim."""
    if not group:
        return [], []
    ref = next((v for v in views if all(g in v.indices for g in group)), None)
    if ref is None:
        return group[:-1], group[-1:]
    order = sorted(group, key=lambda g: ref.indices.index(g))
    run = [order[-1]]
    for g in reversed(order[:-1]):
        nxt = run[0]
        ok = all(
            same_extent(v.stride(g), v.stride(nxt) * ext[nxt]) for v in views if g in v.indices and nxt in v.indices
        ) and all((g in v.indices) == (nxt in v.indices) for v in views)
        if not ok:
            break
        run.insert(0, g)
    return [g for g in order if g not in run], run


def emit_pair(pb, x: View, y: View, out: View, ext: dict, alpha: L.LExpr, accumulate: bool,
              dtype: str, names) -> list[L.Stmt] | None:  # fmt: skip
    """Stmts computing out = alpha * sum x*y (+ out if accumulate) with one Gemm in loops."""
    xs, ys, zs = x.indices, y.indices, out.indices
    if any(i not in zs and i not in ys for i in xs) or any(i not in zs and i not in xs for i in ys):
        return None  # an index summed inside one operand only: no Gemm shape
    if any(i not in xs and i not in ys for i in zs):
        return None
    groups = {name: group for name, group, _ in _groups(x, y, out)}
    if not (groups["m"] and groups["n"]) and not (groups["k"] and (groups["m"] or groups["n"])):
        # elementwise (a Hadamard step, a scaling) or batched dot products (a column sum of a
        # product): a loop nest, not a batch of 1 x 1 Gemms
        return None
    loops: list[tuple[str, str]] = []
    dims = {}
    for gname, group, views in _groups(x, y, out):
        rest, run = _merge(group, views, ext)
        loops += [(g, gname) for g in rest]
        dims[gname] = run
    spec = pb.spec
    var = {g: names(g) for g, _ in loops}

    def off(v: View) -> L.LExpr:
        o = const(0)
        for g, _ in loops:
            if g in v.indices:
                o = iadd(o, imul(L.Var(var[g]), sym_to_lexpr(v.stride(g), spec)))
        return o

    def st(v: View, gname: str) -> L.LExpr:
        run = dims[gname]
        if not run or run[0] not in v.indices:
            return const(0)
        return sym_to_lexpr(v.stride(run[-1]), spec)

    def extent(gname: str) -> L.LExpr:
        e = sympy.Integer(1)
        for g in dims[gname]:
            e = e * ext[g]
        return sym_to_lexpr(e, spec)

    k_loops = [g for g, kind in loops if kind == "k"]
    g = L.Gemm(
        c=L.Operand(out.buffer, off(out), (st(out, "b"), st(out, "m"), st(out, "n"))),
        a=L.Operand(x.buffer, off(x), (st(x, "b"), st(x, "m"), st(x, "k"))),
        b=L.Operand(y.buffer, off(y), (st(y, "b"), st(y, "k"), st(y, "n"))),
        batch=extent("b"), m=extent("m"), n=extent("n"), k=extent("k"), alpha=alpha,
        accumulate=accumulate or bool(k_loops), dtype=dtype,
    )  # fmt: skip
    body: list[L.Stmt] = [g]
    for idx, gname in reversed(loops):  # b, m, n loops write disjoint parts of out: parallel
        kind = "serial" if gname == "k" else "parallel"
        body = [L.Loop(var[idx], const(0), sym_to_lexpr(ext[idx], spec), tuple(body), kind=kind)]
    if k_loops and not accumulate:  # the k loops accumulate: start from zero
        zvars = [names(f"z{n}") for n in range(len(zs))]
        zero: list[L.Stmt] = [
            L.Store(out.buffer, tuple(L.Var(v) for v in zvars), L.Const(0.0, pb.buffer(out.buffer).dtype))
        ]
        for n in reversed(range(len(zs))):
            zero = [L.Loop(zvars[n], const(0), sym_to_lexpr(out.shape[n], spec), tuple(zero), kind="parallel")]
        body = zero + body
    return body


def _groups(x: View, y: View, out: View):
    """The Gemm's index groups (name, indices, views holding them): batch, m, n and k."""
    xs, ys, zs = x.indices, y.indices, out.indices
    return (("b", [i for i in zs if i in xs and i in ys], [x, y, out]),
            ("m", [i for i in zs if i in xs and i not in ys], [x, out]),
            ("n", [i for i in zs if i in ys and i not in xs], [y, out]),
            ("k", [i for i in xs if i in ys and i not in zs], [x, y]))  # fmt: skip


def _extents(def_: T.Def, st: T.Statement, r: T.Reduce) -> dict:
    ext = {rg.index: rg.hi - rg.lo for rg in (*st.domain, *r.ranges)}
    return {k: sympy.sympify(v) for k, v in ext.items()}


def _top_reduces(e: T.Expr) -> list[T.Reduce]:
    if isinstance(e, T.Reduce):
        return [e]
    out = []
    from tensorc.ir.tir_utils import children

    for c in children(e):
        out += _top_reduces(c)
    return out


def lower_contraction(pb, k: int, st: T.Statement) -> bool:
    """Lower `st` through Gemm(s) if it holds a contraction; False if it does not apply."""
    def_ = pb.def_
    if st.mask is not None or len(set(st.indices)) != len(st.indices):
        return False
    if any(not T.is_zero(rg.lo) for rg in st.domain):
        return False
    lhs = set(st.indices)
    cands = [r for r in _top_reduces(st.rhs) if free_indices(r) == lhs]
    found = [g for g in (gemm_like(def_, r, lhs) for r in cands) if g is not None]
    if not found:
        return False
    # a network of three or more first: a pair may have no Gemm shape (a dot product, when the
    # output is a scalar), and the others would then stream with the epilogue
    gl = max(found, key=lambda g: len(g.operands) > 2)
    r = gl.reduce
    own = tuple(T.Index(i) for i in st.indices)
    reads_self = [x for x in walk(st.rhs) if isinstance(x, T.Access) and x.tensor == st.tensor]
    if any(a.indices != own for a in reads_self):
        return False
    decl = def_.tensor(st.tensor)
    full = all(same_extent(rg.hi, d) for rg, d in zip(st.domain, decl.shape))
    dtype = compute_dtype(r.dtype)
    epilogue = True
    accumulate = False
    rest = st.rhs
    if st.rhs == r and full:
        target, epilogue = st.tensor, False
    elif (
        isinstance(st.rhs, T.Call) and st.rhs.fn == "add" and st.rhs.args[1] == r
        and st.rhs.args[0] == T.Access(st.tensor, own, decl.dtype) and full
    ):  # fmt: skip
        target, epilogue, accumulate = st.tensor, False, True
    elif full and not reads_self and decl.dtype == r.dtype:
        target = st.tensor  # the Gemm writes the output, the epilogue rewrites it in place
        rest = replace_node(st.rhs, r, T.Access(st.tensor, own, r.dtype))
    else:
        target = pb.add_temp(f"{st.tensor}_sum", r.dtype, [rg.hi for rg in st.domain])
        rest = replace_node(st.rhs, r, T.Access(target, own, r.dtype))
    out_shape = list(decl.shape) if target == st.tensor else [rg.hi for rg in st.domain]
    ext = _extents(def_, st, r)
    names = pb.names()
    alpha = scalar_alpha(gl.scalars, dtype)
    notes: list[str] = []
    label = f"statement {k + 1} ({st.tensor})"
    views = [View(o.tensor, [i.name for i in o.indices], list(def_.tensor(o.tensor).shape)) for o in gl.operands]
    out_view = View(target, list(st.indices), out_shape)
    if len(views) == 2:  # `B(k,n) * A(m,k)` is the same Gemm as `A(m,k) * B(k,n)`
        size = plan_sizes(pb, ext)
        x, y = _oriented(views[0], views[1], list(st.indices), out_view, size)
        got = emit_pair(pb, x, y, out_view, ext, alpha, accumulate, dtype, names)
        if got is None:
            return False
        groups = [got]
        notes.append(f"{label}: contraction lowered to a Gemm")
    else:
        groups = _nary(pb, views, out_view, ext, alpha, accumulate, dtype, names, notes, label, gl.scalars)
    for n, group in enumerate(groups):
        pb.kernel(tuple(group), notes if n == 0 else [])
    if epilogue:
        ep = replace(st, rhs=_own_kernels(pb, k, st, rest))
        if lower_contraction(pb, k, ep):
            return True  # the epilogue holds another contraction (a sum of two: RBF's gradient)
        enotes = [f"{label}: pointwise epilogue applied to the Gemm result in one pass"]
        def2 = with_temps(def_, pb)
        ebody, _ = lower_nest(def2, ep, pb.schedule, pb.names(), pb.spec, enotes)
        pb.kernel(ebody, enotes)
    return True


def _own_kernels(pb, k: int, st: T.Statement, rest: T.Expr) -> T.Expr:
    """`rest` with each top-level sum over fewer output indices than `st` has (a row or a column
    sum next to a Gemm: RBF's gradient) computed first, by its own kernel, into a temp: in the
    epilogue's loops a column sum reads down columns; alone it is row-blocked."""
    dom = {g.index: g for g in st.domain}
    for r in _top_reduces(rest):
        idx = [i for i in st.indices if i in free_indices(r)]
        if r.op != "sum" or not free_indices(r) < set(st.indices) or r.rank:
            continue
        name = pb.add_temp(f"{st.tensor}_part", r.dtype, [dom[i].hi for i in idx])
        with pb.declaring_temps():
            pb.statement(k, T.Statement(name, tuple(idx), tuple(dom[i] for i in idx), r))
        rest = replace_node(rest, r, T.Access(name, tuple(T.Index(i) for i in idx), r.dtype))
    return rest


def why_no_gemm(st: T.Statement) -> list[str]:
    """For a statement lowered as a loop nest: each sum of a product of >= 2 tensors in it (a
    Gemm's shape) and why it did not become one (`explain` lists these under "not fused")."""
    out = []
    lhs = set(st.indices)
    for r in walk(st.rhs):
        if not (isinstance(r, T.Reduce) and r.op == "sum"):
            continue
        fs = product_factors(r.body)
        tensors = [f for f in fs if isinstance(f, T.Access) and f.indices and plain_access(f)]
        if len(tensors) < 2 or len(tensors) + sum(_scalar(f) for f in fs) != len(fs):
            continue
        over = ", ".join(g.index for g in r.ranges)
        if r.mask is not None:
            why = "it is masked"
        elif free_indices(r) != lhs:
            why = "it is computed per element of an expression around it, not over the output"
        else:
            why = "its ranges or operands do not cover whole tensors from 0"
        out.append(f"sum of products over ({over}) not lowered to a Gemm: {why}")
    return out


def _scalar(f: T.Expr) -> bool:
    return isinstance(f, T.Const) or isinstance(f, T.Access) and not f.indices


def plan_sizes(pb, ext: dict) -> dict[str, int]:
    """Each index's extent at the schedule's plan sizes and specialised sizes (unknown: 64)."""
    psz = dict(pb.schedule.plan_sizes) | dict(pb.spec)
    out = {}
    for i, e in ext.items():
        e = e.subs({s: psz.get(str(s), 64) for s in e.free_symbols})
        out[i] = int(e) if e.is_number else 64
    return out


def _nary(pb, views, out_view, ext, alpha, accumulate, dtype, names, notes, label, scalars):
    from tensorc.passes.plan_contractions import plan

    letters = {}
    for v in (*views, out_view):
        for i in v.indices:
            letters.setdefault(i, get_symbol(len(letters)))  # any count: past 52, other chars
    back = {c: i for i, c in letters.items()}
    size = plan_sizes(pb, ext)
    sizes = {letters[i]: n for i, n in size.items() if i in letters}
    inputs = ["".join(letters[i] for i in v.indices) for v in views]
    output = "".join(letters[i] for i in out_view.indices)
    p = plan(inputs, output, sizes)
    notes.append(f"{label}: {len(views)}-operand contraction, path planned:\n" + p.describe())
    ops = list(views)
    groups: list[list[L.Stmt]] = [[]]  # kernels: small steps share one, big ones run alone
    reader = _readers(len(views), p.steps)
    done: dict[tuple, View] = {}  # repeated pairs (the two halves of <A|A>) are computed once
    for n, step in enumerate(p.steps):
        x, y = ops[step.lhs], ops[step.rhs]
        for pos in sorted((step.lhs, step.rhs), reverse=True):
            del ops[pos]
        last = n == len(p.steps) - 1
        zs = [back[c] for c in step.out_indices]
        if not last:
            key, names_of = _pair_key(x, y, zs)
            if key in done:
                prev = done[key]
                ops.append(View(prev.buffer, [names_of[i] for i in prev.indices], prev.shape))
                notes.append(f"{label}: path step {n + 1} repeats an earlier step; its result is reused")
                continue
        x, y = _oriented(x, y, zs, out_view if last else None, size)
        if last:
            out = out_view
        else:
            b_ = [i for i in zs if i in x.indices and i in y.indices]
            m_ = [i for i in x.indices if i in zs and i not in b_]
            n_ = [i for i in y.indices if i in zs and i not in b_]
            order = b_ + m_ + n_ + [i for i in zs if i not in b_ + m_ + n_]
            if n in reader:  # the step reading this result, and its other operand (an input)
                r, other = reader[n]
                summed = [i for i in views[other].indices if i in zs and i not in
                          {back[c] for c in p.steps[r].out_indices}]
                order = _layout(order, x, y, views[other], summed, ext, size)
            shape = [ext[i] for i in order]
            tname = pb.add_temp("path", dtype, shape)
            out = View(tname, order, shape)
        got = emit_pair(
            pb, x, y, out, ext, alpha if last else L.Const(1.0, dtype), accumulate and last, dtype, names
        )
        if got is None:
            got = _generic_step(pb, x, y, out, ext, dtype, scalars if last else [], accumulate and last)
            notes.append(f"{label}: path step {n + 1} has no Gemm shape; lowered as a loop nest")
        if step.flops >= OWN_KERNEL_FLOPS and _splittable(got):  # the threads share it
            rows = volume([i for i in zs if i in x.indices and i not in y.indices], size)
            cols = volume([i for i in zs if i in y.indices and i not in x.indices], size)
            if isinstance(got[0], L.Gemm) and rows < FEW_ROWS <= cols:
                got = [_columns_in_parallel(got[0], names)]
                notes.append(f"{label}: path step {n + 1} runs its columns in parallel blocks")
            groups += [got, []]
        else:
            groups[-1] += got
        ops.append(out)
        if not last:
            key, names_of = _pair_key(x, y, zs)
            position = {i: p_ for p_, i in names_of.items()}  # this step's name -> position
            done[key] = View(out.buffer, [position[i] for i in out.indices], out.shape)
    return [g for g in groups if g]


def _readers(inputs: int, steps) -> dict[int, tuple[int, int]]:
    """step -> (the later step that reads its result, that step's other operand) where the other
    operand is an input (position in `views`), whose layout is fixed."""
    ops: list[tuple[str, int]] = [("in", i) for i in range(inputs)]
    out = {}
    for n, step in enumerate(steps):
        x, y = ops[step.lhs], ops[step.rhs]
        for a, b in ((x, y), (y, x)):
            if a[0] == "step" and b[0] == "in":
                out[a[1]] = (n, b[1])
        for pos in sorted((step.lhs, step.rhs), reverse=True):
            del ops[pos]
        ops.append(("step", n))
    return out


def _layout(order: list[str], x: View, y: View, other: View, summed: list[str], ext, size) -> list[str]:
    """A layout of the result of `x * y` (default `order`) for the step that sums it with
    `other` over `summed`: with the summed indices together, in `other`'s order, that step's K
    is one Gemm dimension instead of serial loops of accumulating Gemms (which also need C
    zeroed first and cannot be shared by threads). Costs: Gemm calls of this step, plus those
    in the next step's k loops counted 4 times."""
    if len(summed) < 2:
        return order
    rest = [i for i in order if i not in summed]

    def cost(o: list[str]) -> int:
        out = View("out", o, [ext[i] for i in o])
        calls = volume([i for _, g, vs in _groups(x, y, out) for i in _merge(g, vs, ext)[0]], size)
        return calls + 4 * volume(_merge(summed, [other, out], ext)[0], size)

    return min((order, rest + summed, summed + rest), key=cost)


def _pair_key(x: View, y: View, zs: list[str]) -> tuple[tuple, dict[int, str]]:
    """The step `x * y -> zs` with index names replaced by positions of first appearance (x and y
    in buffer order, so a swapped pair matches too), and position -> this step's index name."""
    if (y.buffer, y.indices) < (x.buffer, x.indices):
        x, y = y, x
    names = list(dict.fromkeys(x.indices + y.indices))
    pos = {i: n for n, i in enumerate(names)}
    key = (x.buffer, tuple(pos[i] for i in x.indices), y.buffer, tuple(pos[i] for i in y.indices))
    return key + (tuple(pos[i] for i in zs),), dict(enumerate(names))


# a path step this big (about 5 us of one core) runs as its own kernel, split across the threads
# (the cpu backend's driver starts the next kernel a few hundred ns after the last chunk)
OWN_KERNEL_FLOPS = 1 << 17
FEW_ROWS = 64  # a Gemm with fewer rows (and more columns) is split across threads by columns
COLUMN_BLOCKS = 8  # parallel column blocks (multiples of the micro-kernel's 16 columns)


def volume(indices, size: dict) -> int:
    return math.prod(size[i] for i in indices)


def _splittable(stmts: list[L.Stmt]) -> bool:
    """One Gemm or one parallel loop: what a backend can cut into chunks for its threads."""
    if len(stmts) != 1:
        return False
    s = stmts[0]
    return isinstance(s, L.Gemm) or isinstance(s, L.Loop) and s.kind == "parallel"


def _columns_in_parallel(g: L.Gemm, names) -> L.Loop:
    """`g` as a parallel loop over COLUMN_BLOCKS blocks of its columns. The runtime splits a lone
    Gemm by rows, in blocks of 6: a Gemm with few rows (Tucker's first step, U1^T (16 x 64) times
    T (64 x 4096)) would run on one or two threads, each packing all of B."""
    blk = names("colblk")
    per = COLUMN_BLOCKS * 16
    width = imul(call("floordiv", iadd(g.n, const(per - 1)), const(per), dtype="int64"), const(16))
    start = imul(L.Var(blk), width)
    cols = imax(const(0), imin(width, isub(g.n, start)))

    def shifted(op: L.Operand) -> L.Operand:
        return replace(op, offset=iadd(op.offset, imul(start, op.strides[2])))

    body = replace(g, c=shifted(g.c), b=shifted(g.b), n=cols)
    return L.Loop(blk, const(0), const(COLUMN_BLOCKS), (body,), kind="parallel")


def _oriented(x: View, y: View, zs: list[str], out: View | None, size: dict) -> tuple[View, View]:
    """(A, B) of a step's Gemm: x and y, swapped when that reads and writes memory better.

    The Gemm packs A (the M side) in panels of a few rows read along k, and B (the N side) in
    panels of a few columns read along n; C is written straight from registers when its innermost
    index is an n. An operand whose innermost index runs the wrong way is read in short strided
    pieces (a 64^3 tensor as A along m measured 2x slower than as B), so the cost of a choice is
    the size of every operand (and fixed output `out`) whose innermost index runs the wrong way.
    Intermediates are laid out by the caller to suit whichever choice is made.
    """

    def cost(a: View, b: View) -> int:
        n_side = set(zs) - set(a.indices)
        c = volume(a.indices, size) if a.indices and a.indices[-1] in zs else 0
        c += volume(b.indices, size) if b.indices and b.indices[-1] not in n_side else 0
        if out is not None and out.indices and out.indices[-1] not in n_side:
            c += volume(out.indices, size)
        return c

    return (y, x) if cost(y, x) < cost(x, y) else (x, y)


def _generic_step(pb, x: View, y: View, out: View, ext, dtype, scalars, accumulate):
    red = [i for i in dict.fromkeys(x.indices + y.indices) if i not in out.indices]
    tx = T.Access(x.buffer, tuple(T.Index(i) for i in x.indices), dtype)
    ty = T.Access(y.buffer, tuple(T.Index(i) for i in y.indices), dtype)
    body: T.Expr = T.Call("mul", (tx, ty), dtype)
    for sc in scalars:
        body = T.Call("mul", (body, sc), dtype)
    rng = tuple(T.Range(i, sympy.Integer(0), ext[i]) for i in red)
    rhs: T.Expr = T.Reduce("sum", rng, body, None, dtype) if red else body
    own = T.Access(out.buffer, tuple(T.Index(i) for i in out.indices), dtype)
    if accumulate:
        rhs = T.Call("add", (own, rhs), dtype)
    dom = tuple(T.Range(i, sympy.Integer(0), ext[i]) for i in out.indices)
    stmt = T.Statement(out.buffer, tuple(out.indices), dom, rhs)
    def2 = with_temps(pb.def_, pb)
    body_l, _ = lower_nest(def2, stmt, replace(pb.schedule, gemm=False), pb.names(), pb.spec, [])
    body_l, _ = pb.block_rows(body_l)  # a column sum of a product: 64 adjacent columns per sweep
    return list(body_l)

