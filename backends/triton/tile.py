"""2-D tile fast path: streaming reductions and flash attention, recognised from the LoopIR.

Matches a kernel whose body is `Let`s, then parallel batch loops, then a row loop over i (plain, or
tiled as `i_t step T` + `i in [i_t, min(i_t + T, stop))`) whose body holds one or more top-level
`reduce` loops over j. A program owns BLOCK_I rows (values are `[BLOCK_I, 1]`, row accumulators
over e are `[BLOCK_I, BE]`) and walks j in BLOCK_J tiles (values inside are `[BLOCK_I, BLOCK_J]`
by broadcasting). The j loop runs from the smallest to the largest per-row bound of the block, so
fully masked tiles are never visited (causal, sliding window); per-element masks cover the rest.

The updates of the row accumulators inside j are the forms `schedule/reduction_rules.py` emits,
each replaced by its tile form:
- fold      acc = acc (+|max|min) v                   -> reduce the masked tile along axis 1
- logsumexp m, l with one exp per term                -> running max, l rescaled once per tile
- arg       best, idx = (v, j) if better              -> tile min/max, smallest index of ties
- e-fold    acc[e] += t * w(j, e)                     -> t @ W (tl.dot when BE >= 16)
- softmax   m, l, acc[e] = acc[e] * alpha + p w(j, e) -> flash attention: P @ V through tl.dot
An inner d loop `s += a(i, d) * b(j, d)` or `c = a - b; s += c * c` becomes tl.dot over BLOCK_D
chunks (`|a|^2 + |b|^2 - 2 a.b` for the latter) unless d is a constant below DOT_MIN_D.
Anything else raises UnsupportedError and the kernel is rendered by the generic path instead.
"""

from __future__ import annotations

from tensorc.errors import UnsupportedError
from tensorc.ir import loop_ir as L

from .render import KernelWriter, RenderedKernel
from .values import (
    Val,
    _free_vars,
    _ident,
    _loaded_buffers,
    _Local,
    _next_pow2,
    _tl,
    _trips,
    cast,
    host_expr,
)

FLOAT_TYPES = ("float16", "bfloat16", "float32")
_FOLDS = {
    "add": ("tl.sum", "0"),
    "max": ("tl.max", "float('-inf')"),
    "min": ("tl.min", "float('inf')"),
}
_BIG = "tl.full([], 4611686018427387904, tl.int64)"  # 2**62: "no index" in a tile's argmin


def _no(what: str) -> UnsupportedError:
    return UnsupportedError(f"triton tile path: {what}")


def _read_of(e: L.LExpr, name: str) -> bool:
    return isinstance(e, L.LocalRead) and e.name == name


def _norm(t: str, axis: int) -> str:
    return f"tl.sum({t} * {t}, axis={axis}, keep_dims=True)"


def _factors(e: L.LExpr) -> list[L.LExpr]:
    """Factors of a product, through float casts (a dot in fp32 skips fp16 rounding of a*b)."""
    if isinstance(e, L.Call) and e.fn == "cast" and e.dtype in ("float16", "bfloat16", "float32"):
        return _factors(e.args[0])
    if isinstance(e, L.Call) and e.fn == "mul":
        return _factors(e.args[0]) + _factors(e.args[1])
    return [e]


def _strip_cast(e: L.LExpr) -> L.LExpr:
    return e.args[0] if isinstance(e, L.Call) and e.fn == "cast" else e


def _only_stores(body) -> bool:
    """Lets and Stores that read no buffer they write: iterations are independent."""
    stores = {s.buffer for s in body if isinstance(s, L.Store)}
    return all(isinstance(s, (L.Let, L.Store)) for s in body) and not (
        _loaded_buffers(body, set()) & stores
    )


def _computes(body) -> bool:
    """A loop body that computes per element (locals, inner loops): j worth tiling as columns."""
    return any(isinstance(s, (L.Local, L.Loop)) for s in body)


def row_nest(prog: L.LoopProgram, kernel: L.Kernel, sizes: set[str]):
    """(lets, batch loops, row var, row start, row stop, row body) or None."""
    body = list(kernel.body)
    lets = []
    while body and isinstance(body[0], L.Let):
        lets.append(body.pop(0))
    chain: list[L.Loop] = []
    while len(body) == 1 and isinstance(body[0], L.Loop) and body[0].kind in ("parallel", "vector"):
        chain.append(body[0])
        body = list(body[0].body)
    if not chain:
        return None
    last = chain[-1]
    outer = chain[-2] if len(chain) >= 2 else None
    if (
        outer
        and outer.step == 1
        and outer.var in _free_vars(last.start, _free_vars(last.stop, set()))
    ):
        body = [chain.pop()]  # j in [f(i), ..): output columns, streamed as tiles (Gram)
    row = chain.pop()
    start, stop = row.start, row.stop
    if chain and chain[-1].step > 1 and start == L.Var(chain[-1].var):
        tile = chain.pop()  # i_t step T, i in [i_t, min(i_t + T, stop)): rows [tile.start, stop)
        want = L.Call("add", (L.Var(tile.var), L.Const(tile.step, "int64")), "int64")
        if not (isinstance(stop, L.Call) and stop.fn == "min" and want in stop.args):
            return None
        if tile.stop not in stop.args:
            return None
        start, stop = tile.start, tile.stop
    if row.step != 1 or any(lp.step != 1 for lp in chain):
        return None
    for lp in (*chain, L.Loop(row.var, start, stop, ())):
        if None in (host_expr(lp.start, sizes), host_expr(lp.stop, sizes)):
            return None
    return lets, chain, row.var, start, stop, tuple(body)


class TileWriter(KernelWriter):
    """Renders a `row_nest` kernel as BLOCK_I x BLOCK_J tiles (see the module docstring)."""

    def __init__(self, *args):
        super().__init__(*args)
        self.deps: dict[str, frozenset] = {}  # var -> axes it varies along ("i", "j", "e")
        self.outer: set[str] = set()  # row accumulators (declared outside j)
        self.widths_of: dict[str, tuple[str, str]] = {}  # array local -> (width code, extent)
        self.skipped: dict[str, L.LExpr] = {}  # Lets that belong to an accumulator update
        self.zero: set[str] = set()  # inner locals still holding their 0 init
        self.masks: dict[str, str] = {}  # axis -> mask code in scope
        self.e_var: str | None = None
        self.e_width = ""
        self.pending: dict = {}
        self.in_j = False
        self.flash = False
        self.columns = False  # the current j loop indexes outputs (a parallel j)
        self.wrote_columns = False
        self.streamed = False  # a j loop was rendered as tiles
        self.cx: dict = {}
        self.resident: dict = {}  # id(d loop) -> (i-side tile, width, constexpr flag or None)

    # -- small helpers
    def lanes(self, code: str) -> str:
        return code  # shapes come from broadcasting [BLOCK_I, 1] rows and [1, BLOCK_J] columns

    def axes(self, e) -> frozenset:
        if isinstance(e, L.Var):
            return self.deps.get(e.name, frozenset())
        if isinstance(e, L.LocalRead):
            own = {"i", "j"} if e.name not in self.outer else {"i"} | ({"e"} if e.index else set())
            return frozenset(own).union(*(self.axes(x) for x in e.index))
        if isinstance(e, L.Load):
            return frozenset().union(*(self.axes(x) for x in e.index))
        if isinstance(e, L.Call):
            return frozenset().union(*(self.axes(x) for x in e.args))
        return frozenset()

    def reads_outer(self, e) -> bool:
        if isinstance(e, L.LocalRead) and e.name in self.outer:
            return True
        if isinstance(e, L.Var):
            return e.name in self.skipped
        kids = e.args if isinstance(e, L.Call) else getattr(e, "index", ())
        return any(self.reads_outer(x) for x in kids)

    def at_e(self, name: str, index) -> bool:
        """True if `name[index]` is the current vectorised e column of a row accumulator."""
        w = self.widths_of.get(name)
        return w is not None and index == (L.Var(self.e_var),) and w[0] == self.e_width

    def mask_for(self, axes) -> str | None:
        parts = [self.masks[a] for a in ("i", "j", "e", "d") if a in axes and a in self.masks]
        return " & ".join(parts) or None

    def width(self, extent: L.LExpr) -> tuple[str, bool]:
        """(block width code, static) covering `extent` elements along e."""
        if isinstance(extent, L.Const):
            return str(_next_pow2(int(extent.value))), True
        if isinstance(extent, L.Var) and extent.name in self.static:
            return str(_next_pow2(int(self.static[extent.name]))), True
        host = host_expr(extent, self.all_sizes)
        if host is None:
            raise _no(f"extent {extent} is not computable on the host")
        self.expr(extent)  # the kernel receives the size
        code = f"max(16, triton.next_power_of_2(max(1, {host})))"
        return self.constexpr("BLOCK_E", code), False

    # -- expressions
    def expr(self, e: L.LExpr) -> Val:
        if isinstance(e, L.Load):
            buf = self.buffers.get(e.buffer)
            if buf is None:
                raise _no(f"load from unknown buffer {e.buffer!r}")
            m = self.mask_for(self.axes(e))
            ptr = f"p_{_ident(buf.name)} + {self.offset(buf, e.index)}"
            code = f"tl.load({ptr}, mask={m}, other=0)" if m else f"tl.load({ptr})"
            return cast(Val(code, buf.dtype, True), e.dtype)
        if isinstance(e, L.LocalRead):
            loc = self.locals.get(e.name)
            if loc is None:
                raise _no(f"read of undeclared local {e.name!r}")
            if e.index and not self.at_e(e.name, e.index):
                raise _no(f"local array {e.name!r} read at {e.index}")
            return cast(Val(loc.py, loc.dtype, True), e.dtype)
        return super().expr(e)

    # -- statements
    def stmt_If(self, s: L.If) -> None:
        raise _no("If")

    def stmt_Let(self, s: L.Let) -> None:
        if self.in_j and self.reads_outer(s.value):
            self.skipped[s.name] = s.value
            return
        self.deps[s.name] = self.axes(s.value)
        super().stmt_Let(s)

    def stmt_Local(self, s: L.Local) -> None:
        if s.dtype == "bool" or self.reads_outer(s.init):
            raise _no("bool local or local initialised from an accumulator")
        init = cast(self.expr(s.init), s.dtype)
        py = self.fresh("l_" + _ident(s.name))
        if self.in_j:
            if s.shape:
                raise _no(f"local array {s.name!r} inside the j loop")
            shape = "[BLOCK_I, BLOCK_J]"
            if isinstance(s.init, L.Const) and s.init.value == 0:
                self.zero.add(s.name)
        else:
            if len(s.shape) > 1:
                raise _no(f"local {s.name!r} of rank {len(s.shape)}")
            w = self.width(s.shape[0])[0] if s.shape else "1"
            if s.shape:
                self.widths_of[s.name] = (w, s.shape[0])
            shape = f"[BLOCK_I, {w}]"
            self.outer.add(s.name)
        self.emit(f"{py} = tl.zeros({shape}, {_tl(s.dtype)}) + {init.code}")
        self.locals[s.name] = _Local(py, s.dtype, ())

    def set_local(self, name: str, code: str) -> None:
        loc = self.locals[name]
        self.emit(f"{loc.py} = {code}")

    def stmt_Assign(self, s: L.Assign) -> None:
        loc = self.locals.get(s.name)
        if loc is None:
            raise _no(f"assign to undeclared local {s.name!r}")
        if s.name not in self.outer:  # an inner (per-pair) local
            if self.reads_outer(s.value):
                raise _no(f"{s.name!r} reads an accumulator")
            self.zero.discard(s.name)
            v = cast(self.expr(s.value), loc.dtype)
            return self.set_local(s.name, f"tl.broadcast_to({v.code}, [BLOCK_I, BLOCK_J])")
        if not self.in_j:
            if s.index and not self.at_e(s.name, s.index):
                raise _no(f"{s.name!r} written at {s.index}")
            v = cast(self.expr(s.value), loc.dtype)
            w = self.widths_of.get(s.name, ("1",))[0]
            return self.set_local(s.name, f"tl.broadcast_to({v.code}, [BLOCK_I, {w}])")
        f = s.value
        if (
            not s.index
            and isinstance(f, L.Call)
            and f.fn in _FOLDS
            and _read_of(f.args[0], s.name)
            and not self.reads_outer(f.args[1])
        ):
            return self.fold(s.name, f.fn, f.args[1])
        self.pending[s.name] = s

    def stmt_Store(self, s: L.Store) -> None:
        buf = self.buffers.get(s.buffer)
        if (self.in_j and not self.columns) or buf is None or buf.role == "scalar":
            raise _no(f"store to {s.buffer!r} here")
        axes = frozenset().union(*(self.axes(x) for x in s.index))
        if not self.axes(s.value) <= axes or (self.in_j and "j" not in axes):
            raise _no(f"store to {s.buffer!r} varies along an axis its index does not")
        v = cast(self.expr(s.value), buf.dtype)
        ptr = f"p_{_ident(buf.name)} + {self.offset(buf, s.index)}"
        m = f"{self.masks['i']} & {self.jm}" if self.in_j else self.mask_for(axes)
        self.emit(f"tl.store({ptr}, {v.code}, mask={m})" if m else f"tl.store({ptr}, {v.code})")

    def stmt_Loop(self, s: L.Loop) -> None:
        columns = s.kind in ("vector", "parallel") and _computes(s.body)
        if not self.in_j and self.e_var is None and columns:
            return self.j_loop(s, columns=True)
        if self.axes(s.start) | self.axes(s.stop) and not (s.kind == "reduce" and not self.in_j):
            raise _no(f"loop {s.var!r} with bounds that differ per row")
        zero = s.start == L.Const(0, "int64") and s.step == 1
        if self.in_j:
            one = len(s.body) == 1 and isinstance(s.body[0], L.Assign)
            if zero and (
                s.kind in ("vector", "parallel") or one and s.body[0].name in self.widths_of
            ):
                return self.e_update(s)
            if self.dot_loop(s):
                return
        elif s.kind == "reduce" and self.e_var is None:
            return self.j_loop(s)
        elif zero and self.e_var is None and (s.kind != "serial" or _only_stores(s.body)):
            return self.e_loop(s)
        self.deps[s.var] = frozenset()
        super().stmt_Loop(s)

    # -- e: the columns of row accumulators, vectorised outside j
    def e_loop(self, s: L.Loop) -> None:
        w, _ = self.width(s.stop)
        hi = cast(self.expr(s.stop), "int64").code
        ev = self.bind("v_" + _ident(s.var), f"tl.arange(0, {w})[None, :]")
        self.masks["e"] = self.bind("_em", f"{ev} < {hi}")
        self.env[s.var], self.deps[s.var], self.e_var = (
            Val(ev, "int64", True),
            frozenset("e"),
            s.var,
        )
        self.e_width = w
        self.stmts(s.body)
        self.e_var, self.e_width = None, ""
        del self.masks["e"]

    # -- j: the streaming loop
    def j_loop(self, s: L.Loop, columns: bool = False) -> None:
        """`columns`: j indexes outputs (stored per (i, j) tile), else j is reduced."""
        self.columns = columns
        self.wrote_columns |= columns
        if s.step != 1 or (self.axes(s.start) | self.axes(s.stop)) - {"i"}:
            raise _no(f"j loop {s.var!r} with step {s.step} or bounds beyond rows")
        lo, hi = (
            self.bind(n, cast(self.expr(x), "int64").code)
            for n, x in (("_lo", s.start), ("_hi", s.stop))
        )
        rm = self.masks["i"]
        per_row = bool(self.axes(s.start) | self.axes(s.stop))
        blo = (
            self.bind("_jlo", f"tl.min(tl.where({rm}, {lo}, {_BIG}))") if self.axes(s.start) else lo
        )
        bhi = self.bind("_jhi", f"tl.max(tl.where({rm}, {hi}, 0))") if self.axes(s.stop) else hi
        self.deps[s.var] = frozenset("j")
        self.plan_resident(s.body)
        j0 = self.fresh("_j0")
        self.emit(f"for {j0} in range({blo}, {bhi}, BLOCK_J):")
        self.depth += 1
        jv = self.bind(
            "v_" + _ident(s.var), f"tl.cast({j0} + tl.arange(0, BLOCK_J), tl.int64)[None, :]"
        )
        cm = self.bind("_cm", f"{jv} < {bhi}")
        jm = f"({jv} >= {lo}) & ({jv} < {hi}) & {cm}" if per_row else cm
        self.jm = self.bind("_jm", f"tl.broadcast_to({jm}, [BLOCK_I, BLOCK_J])")
        self.jv, self.j0, self.jhi = jv, j0, bhi
        self.masks["j"] = cm
        self.env[s.var], self.deps[s.var] = Val(jv, "int64", True), frozenset("j")
        self.in_j, self.pending, self.j_var, self.streamed = True, {}, s.var, True
        saved = dict(self.env), dict(self.locals)
        for st in s.body:
            self.stmt(st)
        self.groups()
        self.env, self.locals = saved
        self.in_j = False
        del self.masks["j"]
        self.depth -= 1

    def fold(self, name: str, fn: str, v: L.LExpr) -> None:
        loc = self.locals[name]
        red, ident = _FOLDS[fn]
        x = cast(self.expr(v), loc.dtype).code
        tile = f"{red}(tl.where({self.jm}, {x}, {ident}), axis=1, keep_dims=True)"
        if fn == "add":
            return self.set_local(name, f"{loc.py} + {tile}")
        op = "tl.maximum" if fn == "max" else "tl.minimum"
        self.set_local(name, f"{op}({loc.py}, {tile})")

    def e_update(self, s: L.Loop) -> None:
        """An e loop inside j: `acc[e] = acc[e] + t * w(j, e)` now, the softmax form later."""
        if len(s.body) != 1 or not isinstance(s.body[0], L.Assign):
            raise _no("e loop inside j that is not one accumulator update")
        a = s.body[0]
        if a.name not in self.widths_of or a.index != (L.Var(s.var),):
            raise _no(f"e loop writes {a.name!r} at {a.index}")
        f = a.value
        if isinstance(f, L.Call) and f.fn == "add" and _read_of(f.args[0], a.name):
            t, w = self.split_value(f.args[1], s.var)
            if not self.reads_outer(t):
                p = f"tl.where({self.jm}, {cast(self.expr(t), 'float32').code}, 0)"
                acc = self.locals[a.name]
                return self.set_local(a.name, self.pv(p, w, s.var, a.name, acc.py))
        self.pending[a.name] = (s, a)

    def split_value(self, u: L.LExpr, e: str) -> tuple[L.LExpr, L.LExpr]:
        """`u = t * w` with w a load over (j, e) and t free of e."""
        if isinstance(u, L.Call) and u.fn == "mul":
            for t, w in (u.args, u.args[::-1]):
                ld = _strip_cast(w)
                if isinstance(ld, L.Load) and "e" not in self.axes(t) and "i" not in self.axes(ld):
                    return t, w
        raise _no(f"e update value {u} is not (tile) * (load over j, e)")

    def pv(self, p: str, w: L.LExpr, e: str, acc_name: str, acc: str) -> str:
        """Code of `acc + P @ W` with P a [BLOCK_I, BLOCK_J] fp32 tile, W = w(j, e) rows j."""
        width, extent = self.widths_of[acc_name]
        ld = _strip_cast(w)
        jc = self.bind("_jc", f"({self.j0} + tl.arange(0, BLOCK_J))[:, None]")
        ec = self.bind("_ec", f"tl.arange(0, {width})[None, :]")
        hi = cast(self.expr(extent), "int64").code
        saved = dict(self.env)
        self.env[self.j_var] = Val(jc, "int64", True)
        self.env[e] = Val(ec, "int64", True)
        ptr = f"p_{_ident(ld.buffer)} + {self.offset(self.buffers[ld.buffer], ld.index)}"
        self.env = saved
        wv = self.bind("_w", f"tl.load({ptr}, mask=({jc} < {self.jhi}) & ({ec} < {hi}), other=0)")
        wdt = self.buffers[ld.buffer].dtype
        big = not width.isdigit() or int(width) >= 16
        if big and wdt in FLOAT_TYPES:
            if wdt != "float32":
                return f"tl.dot(tl.cast({p}, {_tl(wdt)}), {wv}, {acc})"
            return f"tl.dot({p}, {wv}, {acc}, input_precision={self.precision()!r})"
        return f"{acc} + tl.sum({p}[:, :, None] * tl.cast({wv}, tl.float32)[None, :, :], axis=1)"

    def precision(self) -> str:
        return "tf32" if self.config.get("allow_tf32") else "ieee"

    # -- multi-local accumulator updates, emitted at the end of the j body
    def groups(self) -> None:
        pend = self.pending
        for name, st in list(pend.items()):
            if not isinstance(st, L.Assign) or st.index or not isinstance(st.value, L.Var):
                continue
            mn = self.skipped.get(st.value.name)
            if not (isinstance(mn, L.Call) and mn.fn == "max" and _read_of(mn.args[0], name)):
                continue
            x = mn.args[1]
            for other, o in list(pend.items()):
                if other == name or not isinstance(o, L.Assign) or o.index:
                    continue
                if isinstance(o.value, L.Call) and o.value.fn == "select":
                    self.logsumexp(name, other, x)
                elif self.flash_parts(o, name):
                    self.softmax(name, other, x, *self.flash_parts(o, name))
                else:
                    continue
                break
            else:
                continue
        for name, st in list(pend.items()):
            if isinstance(st, L.Assign) and self.arg_group(name, st):
                continue
        if self.pending:
            raise _no(f"accumulator updates of {sorted(self.pending)} have no tile form")

    def tile_max(self, m: str, x: L.LExpr) -> tuple[str, str, str]:
        """(score tile, new row max, its finite stand-in) for a running max m."""
        t = self.locals[m].dtype
        s = self.bind("_s", cast(self.expr(x), t).code)
        tm = self.bind(
            "_tm", f"tl.max(tl.where({self.jm}, {s}, float('-inf')), axis=1, keep_dims=True)"
        )
        mn = self.bind("_mn", f"tl.maximum({self.locals[m].py}, {tm})")
        safe = self.bind("_sf", f"tl.where({mn} == float('-inf'), 0.0, {mn})")
        return s, mn, safe

    def logsumexp(self, m: str, lname: str, x: L.LExpr) -> None:
        s, mn, safe = self.tile_max(m, x)
        M, Lc = self.locals[m].py, self.locals[lname].py
        terms = f"tl.sum(tl.where({self.jm}, tl.exp({s} - {safe}), 0.0), axis=1, keep_dims=True)"
        self.set_local(lname, f"{Lc} * tl.exp({M} - {safe}) + {terms}")
        self.set_local(m, mn)
        del self.pending[m], self.pending[lname]

    def flash_parts(self, o: L.Assign, m: str):
        """For `l = l * alpha + p` with a pending `acc[e] = acc[e] * alpha + p * w`: (acc, loop, w)."""
        f = o.value
        if not (isinstance(f, L.Call) and f.fn == "add" and isinstance(f.args[1], L.Var)):
            return None
        sc = f.args[0]
        if not (isinstance(sc, L.Call) and sc.fn == "mul" and _read_of(sc.args[0], o.name)):
            return None
        alpha, p = sc.args[1], f.args[1]
        for name, st in self.pending.items():
            if not isinstance(st, tuple):
                continue
            loop, a = st
            v = a.value
            if (
                isinstance(v, L.Call)
                and v.fn == "add"
                and v.args[0]
                == L.Call("mul", (L.LocalRead(name, a.index, v.dtype), alpha), v.dtype)
            ):
                t, w = self.split_value(v.args[1], loop.var)
                if t == p:
                    return name, loop, w
        return None

    def softmax(self, m: str, lname: str, x: L.LExpr, acc: str, loop: L.Loop, w: L.LExpr) -> None:
        s, mn, safe = self.tile_max(m, x)
        M, Lc = self.locals[m].py, self.locals[lname].py
        alpha = self.bind("_al", f"tl.exp({M} - {safe})")
        p = self.bind("_p", f"tl.where({self.jm}, tl.exp({s} - {safe}), 0.0)")
        self.set_local(lname, f"{Lc} * {alpha} + tl.sum({p}, axis=1, keep_dims=True)")
        a = self.locals[acc].py
        self.set_local(acc, self.pv(p, w, loop.var, acc, f"{a} * {alpha}"))
        self.set_local(m, mn)
        self.flash = True
        del self.pending[m], self.pending[lname], self.pending[acc]

    def arg_group(self, best: str, st: L.Assign) -> bool:
        """best = upd ? v : best; idx = upd ? j : idx, upd = (v < best) || ... (argmin/argmax)."""
        f = st.value
        if not (isinstance(f, L.Call) and f.fn == "select" and _read_of(f.args[2], best)):
            return False
        u = f.args[0]
        upd = self.skipped.get(u.name) if isinstance(u, L.Var) else None
        if not (isinstance(upd, L.Call) and upd.fn == "or" and isinstance(upd.args[0], L.Call)):
            return False
        cmp = upd.args[0]
        if (
            cmp.fn not in ("lt", "gt")
            or not _read_of(cmp.args[1], best)
            or cmp.args[0] != f.args[1]
        ):
            return False
        for idx, o in self.pending.items():
            g = o.value if isinstance(o, L.Assign) else None
            if (
                isinstance(g, L.Call)
                and g.fn == "select"
                and g.args[0] == u
                and g.args[1] == L.Var(self.j_var)
                and _read_of(g.args[2], idx)
            ):
                break
        else:
            return False
        B, I = self.locals[best].py, self.locals[idx].py
        worst, red = ("inf", "tl.min") if cmp.fn == "lt" else ("-inf", "tl.max")
        op = "<" if cmp.fn == "lt" else ">"
        x = cast(self.expr(f.args[1]), self.locals[best].dtype).code
        v = self.bind("_v", f"tl.where({self.jm}, {x}, float('{worst}'))")
        tb = self.bind("_tb", f"{red}({v}, axis=1, keep_dims=True)")
        ti = self.bind(
            "_ti",
            f"tl.min(tl.where({self.jm} & ({v} == {tb}), {self.jv}, {_BIG}), axis=1, keep_dims=True)",
        )
        up = self.bind(
            "_up",
            f"({ti} != {_BIG}) & (({tb} {op} {B}) | ({I} == -1) | (({tb} == {B}) & ({ti} < {I})))",
        )
        self.set_local(best, f"tl.where({up}, {tb}, {B})")
        self.set_local(idx, f"tl.where({up}, {ti}, {I})")
        del self.pending[best], self.pending[idx]
        return True

    # -- d: an inner dot product or squared distance through tl.dot
    def dot_match(self, s: L.Loop):
        """(acc, [i-side load, j-side load], their dtypes, squared?) of a d loop, or None."""
        body = s.body
        sq = len(body) == 2 and isinstance(body[0], L.Let)
        a = body[-1] if body else None
        if s.step != 1 or s.start != L.Const(0, "int64") or len(body) not in (1, 2):
            return None
        if not (isinstance(a, L.Assign) and not a.index):
            return None
        f = a.value
        if not (isinstance(f, L.Call) and f.fn == "add" and _read_of(f.args[0], a.name)):
            return None
        prod = f.args[1]
        if not (isinstance(prod, L.Call) and prod.fn == "mul"):
            return None
        pair, coef = prod.args, []
        if sq:  # let c = a - b; acc += c * c
            c = L.Var(body[0].name, body[0].value.dtype)
            diff = body[0].value
            if pair != (c, c) or not (isinstance(diff, L.Call) and diff.fn == "sub"):
                return None
            pair = diff.args
        elif pair[0] == pair[1] and isinstance(pair[0], L.Call) and pair[0].fn == "sub":
            sq, pair = True, pair[0].args  # (a - b) * (a - b) written out
        else:  # a product of one i-side load, one j-side load and factors free of d
            fs = _factors(prod)
            coef = [x for x in fs if not isinstance(x, L.Load)]
            pair = [x for x in fs if isinstance(x, L.Load)]
            if len(pair) != 2 or any(self.axes(x) or s.var in _free_vars(x, set()) for x in coef):
                return None
        loads = [_strip_cast(x) for x in pair]
        if not all(isinstance(x, L.Load) for x in loads):
            return None
        sides = [self.axes(x) for x in loads]
        if sides[0] <= {"j"} and sides[1] <= {"i"}:
            loads = loads[::-1]
        elif not (sides[0] <= {"i"} and sides[1] <= {"j"}):
            return None
        dts = [self.buffers[x.buffer].dtype for x in loads]
        if not all(d in FLOAT_TYPES for d in dts):
            return None
        d = self.static_extent(s.stop)
        if d is not None and d < int(self.config["DOT_MIN_D"]):
            return None
        return a.name, loads, dts, sq, coef

    def dot_loop(self, s: L.Loop) -> bool:
        m = self.dot_match(s)
        if m is None or m[0] not in self.zero or m[0] not in self.locals:
            return False
        name, loads, dts, sq, coef = m
        self.coef = " * ".join(cast(self.expr(c), "float32").code for c in coef)
        self.render_dot(s, loads, dts, sq, self.locals[name].py, self.resident.get(id(s)))
        self.zero.discard(name)
        return True

    def static_extent(self, e: L.LExpr) -> int | None:
        if isinstance(e, L.Const):
            return int(e.value)
        if isinstance(e, L.Var) and e.name in self.static:
            return int(self.static[e.name])
        return None

    def plan_resident(self, body) -> None:
        """Load the i side of each j-body dot loop once, before the j loop (the Q tile of flash
        attention), when d fits in RESIDENT_MAX_D; for a symbolic d a constexpr flag decides."""
        self.resident = {}
        cap = int(self.config["RESIDENT_MAX_D"])
        for s in body:
            m = self.dot_match(s) if isinstance(s, L.Loop) else None
            if m is None:
                continue
            free = set().union(*(_free_vars(x, set()) for x in m[1][0].index))
            if not free <= set(self.env) | {s.var} | self.all_sizes:
                continue
            d, host = self.static_extent(s.stop), host_expr(s.stop, self.all_sizes)
            flag = None
            if d is not None:
                w = str(max(16, _next_pow2(d)))
                if int(w) > cap:
                    continue
            elif host is None:
                continue
            else:
                code = f"max(16, triton.next_power_of_2(max(1, {host})))"
                w = self.constexpr("BLOCK_DR", code)
                flag = self.constexpr("RESIDENT", f"{code} <= {cap}")
                self.emit(f"if {flag}:")
                self.depth += 1
            hi = cast(self.expr(s.stop), "int64").code
            rd = self.bind("_rd", f"tl.arange(0, {w})")
            x = self.side_load(s, m[1][0], f"{rd}[None, :]", "i", hi)
            xn = None
            if m[3]:  # |x|^2 of the resident tile, once
                xn = self.bind("_xn", _norm(self.bind("_t", f"tl.cast({x}, tl.float32)"), 1))
            if flag:
                self.depth -= 1
            self.resident[id(s)] = (x, w, flag, xn)

    def constexpr(self, prefix: str, code: str) -> str:
        """A kernel constexpr computed on the host by `code` (one per distinct code)."""
        for k, v in self.cx.items():
            if v == code:
                return k
        name = f"{prefix}{len(self.cx)}"
        self.cx[name] = code
        return name

    def side_load(self, s: L.Loop, ld: L.Load, shape: str, side: str, hi: str) -> str:
        """Tile of `ld` with the d loop variable set to `shape` (an arange row or column)."""
        saved = dict(self.env)
        self.env[s.var] = Val(shape, "int64", True)
        ptr = f"p_{_ident(ld.buffer)} + {self.offset(self.buffers[ld.buffer], ld.index)}"
        self.env = saved
        m = f"{self.masks[side]} & ({shape} < {hi})"
        return self.bind("_x" if side == "i" else "_y", f"tl.load({ptr}, mask={m}, other=0)")

    def render_dot(self, s, loads, dts, sq, acc, res) -> None:
        hi = cast(self.expr(s.stop), "int64").code
        if res is not None:
            x, w, flag, xn = res
            if flag:
                self.emit(f"if {flag}:")
                self.depth += 1
            rd = self.bind("_rd", f"tl.arange(0, {w})")
            self.dot_chunk(s, loads, dts, sq, acc, rd, hi, x, xn)
            if flag:
                self.depth -= 1
                self.emit("else:")
                self.depth += 1
                self.dot_chunks(s, loads, dts, sq, acc, hi)
                self.depth -= 1
        else:
            self.dot_chunks(s, loads, dts, sq, acc, hi)
        if sq:  # rounding can make |x|^2 + |y|^2 - 2x.y slightly negative
            self.emit(f"{acc} = tl.maximum({acc}, 0.0)")

    def dot_chunks(self, s, loads, dts, sq, acc, hi) -> None:
        bd = int(self.config["BLOCK_D"])
        d = self.static_extent(s.stop)
        if d is not None:
            bd = min(bd, max(16, _next_pow2(d)))
        d0 = self.fresh("_d0")
        self.emit(f"for {d0} in range(0, {hi}, {bd}):")
        self.depth += 1
        rd = self.bind("_rd", f"{d0} + tl.arange(0, {bd})")
        self.dot_chunk(s, loads, dts, sq, acc, rd, hi, None)
        self.depth -= 1

    def dot_chunk(self, s, loads, dts, sq, acc, rd, hi, x, xn=None) -> None:
        """acc += x . y (or |x|^2 + |y|^2 - 2 x.y) over the d chunk `rd`."""
        xa = x or self.side_load(s, loads[0], f"{rd}[None, :]", "i", hi)
        ya = self.side_load(s, loads[1], f"{rd}[:, None]", "j", hi)
        da, db = dts
        if da == db and da != "float32":
            dot = f"tl.dot({xa}, {ya})"
        else:
            f32, prec = "tl.float32", self.precision()
            dot = f"tl.dot(tl.cast({xa}, {f32}), tl.cast({ya}, {f32}), input_precision={prec!r})"
        if not sq:
            return self.emit(f"{acc} = {acc} + {self.coef + ' * ' if self.coef else ''}{dot}")
        nx = xn or _norm(self.bind("_t", f"tl.cast({xa}, tl.float32)"), 1)
        ny = _norm(self.bind("_t", f"tl.cast({ya}, tl.float32)"), 0)
        self.emit(f"{acc} = {acc} + {nx} + {ny} - 2.0 * {dot}")

    # -- whole kernel
    def render(self) -> RenderedKernel:
        self.widths: set[int] = set()
        lets, batch, i, start, stop, body = row_nest(self.prog, self.kernel, self.all_sizes)
        self.block = 0
        head_at = len(self.lines)
        for s in lets:
            self.stmt(s)
        lo, hi = (cast(self.expr(x), "int64").code for x in (start, stop))
        # one grid axis (no 65535 limit): program = batch * row_blocks + row_block
        blocks = self.bind("_nrb", f"tl.maximum({hi} - {lo} + BLOCK_I - 1, 0) // BLOCK_I")
        pid = self.bind("_pid", "tl.cast(tl.program_id(0), tl.int64)")
        rem = self.bind("_bt", f"{pid} // {blocks}")
        host_batch = []
        for k, lp in reversed(list(enumerate(batch))):
            blo, bhi = (cast(self.expr(x), "int64").code for x in (lp.start, lp.stop))
            cnt = self.bind("_cnt", f"tl.maximum({_trips(blo, bhi, 1, False)}, 0)")
            idx = rem if k == 0 else f"{rem} % {cnt}"
            self.env[lp.var] = Val(
                self.bind("v_" + _ident(lp.var), f"{blo} + {idx}"), "int64", False
            )
            if k:
                rem = self.bind("_r", f"{rem} // {cnt}")
            hl, hh = (host_expr(x, self.all_sizes) for x in (lp.start, lp.stop))
            host_batch.append(f"max(0, {hh} - {hl})")
        iv = self.bind(
            "v_" + _ident(i),
            f"({lo} + ({pid} % {blocks}) * BLOCK_I + tl.arange(0, BLOCK_I))[:, None]",
        )
        self.masks["i"] = self.bind("_rm", f"{iv} < {hi}")
        self.env[i], self.deps[i] = Val(iv, "int64", True), frozenset("i")
        self.stmts(body)
        lines = self.lines[head_at:]
        self.lines = self.lines[:head_at]
        kind = "FLASH" if self.flash else "TILE"
        cfg = self.config
        bi, bj = int(cfg[f"{kind}_BLOCK_I"]), int(cfg[f"{kind}_BLOCK_J"])
        hl, hh = (host_expr(x, self.all_sizes) for x in (start, stop))
        nb = " * ".join(host_batch) or "1"
        grid = [
            f"_n = max(0, {hh} - {hl}) * {nb}",
            f"_grid = (triton.cdiv(max(0, {hh} - {hl}), {bi}) * {nb},)",
        ]
        cx = {"BLOCK_I": bi, "BLOCK_J": bj, **self.cx}
        path = (
            "flash attention: Q tile resident, K/V tiles through tl.dot, online softmax in fp32,"
            " fully masked tiles skipped"
            if self.flash
            else "2-D output tiles: BLOCK_I rows x BLOCK_J columns per step"
            if self.wrote_columns
            else "2-D tile streaming reduction: BLOCK_I rows x BLOCK_J columns per step"
            if self.streamed
            else "row tiles: BLOCK_I rows per program, accumulators over e as [BLOCK_I, BE]"
        )
        out = self.finish(lines, grid, cx, int(cfg[f"{kind}_WARPS"]), path)
        out.num_stages = int(cfg[f"{kind}_STAGES"])
        return out
