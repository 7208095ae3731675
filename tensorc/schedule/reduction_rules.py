"""How each reduction op accumulates into locals: one rule per op (init, update, combine, result).

`update` folds terms in increasing index order; `combine` folds partial states in any order (ties
compare (value, index) lexicographically), so a backend may cut a "reduce" loop into increasing
pieces and merge their states, and split-j (`tensorc.schedule.split`) folds partial states of
disjoint chunks. Updates are branch-free (`select`), which vectorises. NaN follows numpy: max/min
propagate it, argmax/argmin return the index of the first NaN.
"online" is the (running max, rescaled sum, accumulator) state of an online-softmax weighted sum
(its per-term update lives in nest.py, which needs the score and the weight separately).
"""

from __future__ import annotations

from dataclasses import dataclass

from tensorc.ir import loop_ir as L
from tensorc.ir.ops import reduce_identity
from tensorc.ir.types import compute_dtype, is_float

I64 = "int64"
ARG_OPS = ("argmax", "argmin", "kmin", "argkmin")  # rules keeping a best value and its index


@dataclass
class Acc:
    """The locals of one reduction: `names[role]`, element dtype, per-element index prefix."""

    op: str
    dtype: str
    names: dict[str, str]
    k: int = 0


def _c(v, dtype):
    return L.Const(v, dtype)


def _read(name, at, dtype):
    return L.LocalRead(name, at, dtype)


def init(
    op: str, dtype: str, shape: tuple[L.LExpr, ...], k: int, fresh, wide: bool = False
) -> tuple[Acc, list[L.Stmt]]:
    """Declare the accumulator locals of a reduction `op` producing `dtype` (per element of `shape`).

    `wide`: a float32 sum over very many terms (several indices, e.g. a double sum to a scalar as
    in MMD) accumulates in float64, so rounding does not grow with N*M.
    """
    acc_t = compute_dtype(dtype) if op not in ("argmax", "argmin", "argkmin") else None
    if wide and op == "sum" and acc_t == "float32":
        acc_t = "float64"
    if op in ("sum", "prod", "max", "min"):
        name = fresh("acc")
        ident = reduce_identity(op, acc_t)
        ident = float(ident) if is_float(acc_t) else int(ident)
        return Acc(op, acc_t, {"acc": name}), [L.Local(name, acc_t, shape, _c(ident, acc_t))]
    if op == "logsumexp":
        m, s = fresh("m"), fresh("l")
        return Acc(op, acc_t, {"m": m, "l": s}), [
            L.Local(m, acc_t, shape, _c(float("-inf"), acc_t)),
            L.Local(s, acc_t, shape, _c(0.0, acc_t)),
        ]
    raise AssertionError(op)


def init_online(dtype: str, shape: tuple[L.LExpr, ...], fresh) -> tuple[Acc, list[L.Stmt]]:
    """Online softmax: running max m and sum l (scalars), accumulator `acc` over `shape`."""
    t = compute_dtype(dtype)
    m, s, acc = fresh("m"), fresh("l"), fresh("acc")
    return Acc("online", t, {"m": m, "l": s, "acc": acc}), [
        L.Local(m, t, (), _c(float("-inf"), t)),
        L.Local(s, t, (), _c(0.0, t)),
        L.Local(acc, t, shape, _c(0.0, t)),
    ]


def init_arg(op: str, val_dtype: str, shape, k: int, fresh) -> tuple[Acc, list[L.Stmt]]:
    """argmax/argmin/kmin/argkmin: a best value and its index (K-long arrays for kmin)."""
    vt = compute_dtype(val_dtype)
    worst = reduce_identity("max" if op == "argmax" else "min", vt)
    worst = float(worst) if is_float(vt) else int(worst)
    best, idx = fresh("best"), fresh("bi")
    extra = (_c(k, I64),) if op in ("kmin", "argkmin") else ()
    return Acc(op, vt, {"best": best, "idx": idx}, k), [
        L.Local(best, vt, (*shape, *extra), _c(worst, vt)),
        L.Local(idx, I64, (*shape, *extra), _c(-1, I64)),
    ]


def update(acc: Acc, at: tuple[L.LExpr, ...], v: L.LExpr, j: L.LExpr, fresh,
           ordered: bool = True) -> list[L.Stmt]:
    """Statements folding value `v` (at flat index `j`) into the accumulator element `at`.

    `ordered`: `j` is larger than every index folded into this accumulator before (a loop over the
    terms); `combine` folds partial states in any order."""
    t = acc.dtype
    op = acc.op
    if v.dtype != t and op not in ("argmax", "argmin", "kmin", "argkmin"):
        v = L.Call("cast", (v,), t)
    if op in ("sum", "prod", "max", "min"):
        fn = {"sum": "add", "prod": "mul", "max": "max", "min": "min"}[op]
        name = acc.names["acc"]
        return [L.Assign(name, at, L.Call(fn, (_read(name, at, t), v), t))]
    if op == "logsumexp":
        m, s = acc.names["m"], acc.names["l"]
        mn, safe, vv, up, e = fresh("mn"), fresh("safe"), fresh("v"), fresh("up"), fresh("e")
        M, V = _read(m, at, t), L.Var(vv, t)
        UP, EV = L.Var(up, "bool"), L.Var(e, t)
        MN, SAFE = L.Var(mn, t), L.Var(safe, t)
        return [
            L.Let(vv, v),
            L.Let(mn, L.Call("max", (M, V), t)),
            # a row that saw only -inf keeps l = 0 instead of exp(-inf - -inf) = nan
            L.Let(safe, safe_max(MN, t)),
            # one exp per element: e = exp(min - max) rescales l when v is the new max, else is
            # v's own term (lo = v also when v is nan, which then propagates into l)
            L.Let(up, L.Call("gt", (V, M), "bool")),
            L.Let(e, L.Call("exp", (L.Call("sub", (L.Call("select", (UP, M, V), t), SAFE), t),), t)),
            L.Assign(s, at, L.Call("select", (
                UP,
                L.Call("add", (L.Call("mul", (_read(s, at, t), EV), t), _c(1.0, t)), t),
                L.Call("add", (_read(s, at, t), EV), t)), t)),
            L.Assign(m, at, MN),
        ]  # fmt: skip
    if op in ("argmax", "argmin"):
        if v.dtype != t:
            v = L.Call("cast", (v,), t)
        best, idx = acc.names["best"], acc.names["idx"]
        B, I = _read(best, at, t), _read(idx, at, I64)
        vv, u = fresh("v"), fresh("upd")
        V = L.Var(vv, t)
        U = L.Var(u, "bool")
        return [
            L.Let(vv, v),
            L.Let(u, _arg_better(op, V, B, j, I, ordered)),
            L.Assign(best, at, L.Call("select", (U, V, B), t)),
            L.Assign(idx, at, L.Call("select", (U, j, I), I64)),
        ]
    if op in ("kmin", "argkmin"):
        if v.dtype != t:
            v = L.Call("cast", (v,), t)
        best, idx = acc.names["best"], acc.names["idx"]
        cv, ci, tv = fresh("cv"), fresh("ci"), fresh("t")
        ov, oi, sw = fresh("ov"), fresh("oi"), fresh("sw")
        T = L.Var(tv)
        at_t = (*at, T)
        CV, CI = _read(cv, (), t), _read(ci, (), I64)
        OV, OI, SW = L.Var(ov, t), L.Var(oi, I64), L.Var(sw, "bool")
        # insertion by bubbling the carried (value, index) through the sorted K slots
        smaller = L.Call("or", (
            L.Call("eq", (OI, _c(-1, I64)), "bool"),
            L.Call("or", (L.Call("lt", (CV, OV), "bool"),
                          L.Call("and", (L.Call("eq", (CV, OV), "bool"), L.Call("lt", (CI, OI), "bool")), "bool")),
                   "bool")), "bool")  # fmt: skip
        swap = L.Call("and", (L.Call("ne", (CI, _c(-1, I64)), "bool"), smaller), "bool")
        body = (
            L.Let(ov, _read(best, at_t, t)),
            L.Let(oi, _read(idx, at_t, I64)),
            L.Let(sw, swap),
            L.Assign(best, at_t, L.Call("select", (SW, CV, OV), t)),
            L.Assign(idx, at_t, L.Call("select", (SW, CI, OI), I64)),
            L.Assign(cv, (), L.Call("select", (SW, OV, CV), t)),
            L.Assign(ci, (), L.Call("select", (SW, OI, CI), I64)),
        )
        return [
            L.Local(cv, t, (), v),
            L.Local(ci, I64, (), j),
            L.Loop(tv, _c(0, I64), _c(acc.k, I64), body, kind="serial"),
        ]
    raise AssertionError(op)


def _arg_better(op: str, V: L.LExpr, B: L.LExpr, j: L.LExpr, I: L.LExpr, ordered: bool):
    """Whether (V, j) replaces the best (B, I) of argmax/argmin in numpy's order: a NaN beats every
    number and the first NaN wins; else the larger (argmax) / smaller (argmin) value, the smaller
    index on ties; I == -1: nothing seen yet. `ordered`: j is larger than every index folded so
    far (a term loop), so a strict comparison already keeps the first of equals."""

    def call(fn: str, *args: L.LExpr) -> L.LExpr:
        return L.Call(fn, args, "bool")

    def any_of(*terms: L.LExpr) -> L.LExpr:
        return terms[0] if len(terms) == 1 else call("or", terms[0], any_of(*terms[1:]))

    terms = [call("gt" if op == "argmax" else "lt", V, B), call("eq", I, _c(-1, I64))]
    tie = call("eq", V, B)
    if is_float(V.dtype):
        v_nan, b_num = call("ne", V, V), call("eq", B, B)  # (NaN != NaN, NaN == NaN is false)
        terms.append(call("and", v_nan, b_num))
        tie = call("or", tie, call("and", v_nan, call("not", b_num)))
    if not ordered:
        terms.append(call("and", tie, call("lt", j, I)))
    return any_of(*terms)


def combine(acc: Acc, at: tuple[L.LExpr, ...], part, fresh, wrap) -> list[L.Stmt]:
    """Statements folding one partial state into the accumulator (split-j's combine step).

    `part(role, index)` reads element `index` of the partial state's local `acc.names[role]`;
    `wrap(stmts)` puts statements inside the loops over the accumulator's element `at`. A partial
    state of an empty chunk is the identity (arg ops: index -1, skipped).
    """
    t, op = acc.dtype, acc.op
    if op in ("sum", "prod", "max", "min"):
        fn = {"sum": "add", "prod": "mul", "max": "max", "min": "min"}[op]
        name = acc.names["acc"]
        return wrap([L.Assign(name, at, L.Call(fn, (_read(name, at, t), part("acc", at)), t))])
    if op == "logsumexp":
        m, s = acc.names["m"], acc.names["l"]
        n = {k: fresh(k) for k in ("m2", "l2", "mn", "safe", "up", "e")}
        V = {k: L.Var(v, "bool" if k == "up" else t) for k, v in n.items()}
        M, S = _read(m, at, t), _read(s, at, t)
        return wrap([
            L.Let(n["m2"], part("m", at)),
            L.Let(n["l2"], part("l", at)),
            L.Let(n["mn"], L.Call("max", (M, V["m2"]), t)),
            L.Let(n["safe"], safe_max(V["mn"], t)),
            # as in `update`: one exp rescales the side with the smaller max
            L.Let(n["up"], L.Call("gt", (V["m2"], M), "bool")),
            L.Let(n["e"], L.Call("exp", (L.Call("sub", (L.Call("select", (V["up"], M, V["m2"]), t), V["safe"]), t),), t)),
            L.Assign(s, at, L.Call("select", (
                V["up"],
                L.Call("add", (L.Call("mul", (S, V["e"]), t), V["l2"]), t),
                L.Call("add", (S, L.Call("mul", (V["l2"], V["e"]), t)), t)), t)),
            L.Assign(m, at, V["mn"]),
        ])  # fmt: skip
    if op in ("argmax", "argmin", "kmin", "argkmin"):
        slot = fresh("t") if op in ("kmin", "argkmin") else None
        el = (*at, L.Var(slot)) if slot else at
        v, j = fresh("pv"), fresh("pj")
        J = L.Var(j, I64)
        body = [
            L.Let(v, part("best", el)),
            L.Let(j, part("idx", el)),
            L.If(L.Call("ne", (J, _c(-1, I64)), "bool"),
                 tuple(update(acc, at, L.Var(v, t), J, fresh, ordered=False))),
        ]
        if slot:  # insert the partial's K slots one by one (ties: smaller index first)
            body = [L.Loop(slot, _c(0, I64), _c(acc.k, I64), tuple(body), kind="serial")]
        return wrap(body)
    if op == "online":
        m, s, a = acc.names["m"], acc.names["l"], acc.names["acc"]
        n = {k: fresh(k) for k in ("m2", "mn", "safe", "alpha", "beta")}
        V = {k: L.Var(v, t) for k, v in n.items()}
        M, S = _read(m, (), t), _read(s, (), t)
        scaled = L.Call("add", (L.Call("mul", (_read(a, at, t), V["alpha"]), t),
                                L.Call("mul", (part("acc", at), V["beta"]), t)), t)  # fmt: skip
        return [
            L.Let(n["m2"], part("m", ())),
            L.Let(n["mn"], L.Call("max", (M, V["m2"]), t)),
            L.Let(n["safe"], safe_max(V["mn"], t)),
            L.Let(n["alpha"], L.Call("exp", (L.Call("sub", (M, V["safe"]), t),), t)),
            L.Let(n["beta"], L.Call("exp", (L.Call("sub", (V["m2"], V["safe"]), t),), t)),
            L.Assign(s, (), L.Call("add", (L.Call("mul", (S, V["alpha"]), t),
                                           L.Call("mul", (part("l", ()), V["beta"]), t)), t)),
            *wrap([L.Assign(a, at, scaled)]),
            L.Assign(m, (), V["mn"]),
        ]  # fmt: skip
    raise AssertionError(op)


def safe_max(mn: L.LExpr, t: str) -> L.LExpr:
    """`mn`, or 0 where it is -inf (no term seen), so exp(x - safe) never computes -inf - -inf."""
    return L.Call("select", (L.Call("eq", (mn, _c(float("-inf"), t)), "bool"), _c(0.0, t), mn), t)


def result(acc: Acc, at: tuple[L.LExpr, ...], rank: L.LExpr | None, dtype: str) -> L.LExpr:
    """The reduction's value at accumulator element `at` (and at `rank` for kmin/argkmin)."""
    t = acc.dtype
    op = acc.op
    if op in ("sum", "prod", "max", "min"):
        out = _read(acc.names["acc"], at, t)
    elif op == "logsumexp":
        m, s = _read(acc.names["m"], at, t), _read(acc.names["l"], at, t)
        out = L.Call("add", (m, L.Call("log", (s,), t)), t)
    elif op in ("argmax", "argmin"):
        return _read(acc.names["idx"], at, I64)
    elif op == "kmin":
        out = _read(acc.names["best"], (*at, rank), t)
    elif op == "argkmin":
        return _read(acc.names["idx"], (*at, rank), I64)
    elif op == "online":
        # a fully masked row has l = 0 and acc = 0: its value is 0 (the empty sum), not 0/0
        s = _read(acc.names["l"], (), t)
        zero = L.Call("eq", (s, _c(0.0, t)), "bool")
        out = L.Call("select", (zero, _c(0.0, t), L.Call("div", (_read(acc.names["acc"], at, t), s), t)), t)
    else:
        raise AssertionError(op)
    return out if out.dtype == dtype else L.Call("cast", (out,), dtype)
