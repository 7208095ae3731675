"""2-D tile fast path: streaming reductions and flash attention, recognised from the LoopIR.

Matches a kernel whose body is `Let`s, then parallel batch loops, then a row loop over i (plain, or
tiled as `i_t step T` + `i in [i_t, min(i_t + T, stop))`) whose body holds one or more top-level
`reduce` loops over j. A program owns BLOCK_I rows (values are `[BLOCK_I, 1]`, row accumulators
over e are `[BLOCK_I, BE]`) and walks j in BLOCK_J tiles (values inside are `[BLOCK_I, BLOCK_J]`
by broadcasting). The j loop runs from the smallest to the largest per-row bound of the block, so
fully masked tiles are never visited (causal, sliding window); per-element masks cover the rest.

A parallel j whose bounds depend on i (Gram symmetry: j >= i) is walked the same way, storing
each [BLOCK_I, BLOCK_J] output tile. The accumulator updates inside j take their tile forms in
tile_updates.py (fold, logsumexp, argmin/argmax, P @ V of flash attention); an inner d dot
product or squared distance goes through tl.dot in tile_dot.py. Anything else raises
UnsupportedError and the kernel is rendered by the generic path instead.
"""

from __future__ import annotations

from tensorc.ir import loop_ir as L

from .render import KernelWriter, RenderedKernel
from .tile_dot import DotRules
from .tile_updates import UpdateRules
from .values import (
    _BIG,
    _FOLDS,
    Val,
    _free_vars,
    _ident,
    _loaded_buffers,
    _Local,
    _next_pow2,
    _no,
    _read_of,
    _tl,
    _trips,
    cast,
    host_expr,
)


def _only_stores(body) -> bool:
    """Lets and Stores that read no buffer they write: iterations are independent."""
    stores = {s.buffer for s in body if isinstance(s, L.Store)}
    return all(isinstance(s, (L.Let, L.Store)) for s in body) and not (
        _loaded_buffers(body, set()) & stores
    )


def _computes(body) -> bool:
    """A loop body that computes per element (locals, inner loops): j worth tiling as columns."""
    return any(isinstance(s, (L.Local, L.Loop)) for s in body)


def _rescales(body) -> bool:
    """A j body with `acc[e] = acc[e] * alpha + ...`: flash attention's P @ V update."""
    for s in body:
        if isinstance(s, L.Loop) and len(s.body) == 1 and isinstance(s.body[0], L.Assign):
            a = s.body[0]
            v = a.value
            if (
                isinstance(v, L.Call)
                and v.fn == "add"
                and isinstance(v.args[0], L.Call)
                and v.args[0].fn == "mul"
                and _read_of(v.args[0].args[0], a.name)
            ):
                return True
    return False


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


class TileWriter(UpdateRules, DotRules, KernelWriter):
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
        m = self.mask_for(axes)
        if self.in_j:
            m = f"{self.masks['i']} & {self.jm}" if self.jm else self.masks["i"]
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
        """`columns`: j indexes outputs (stored per (i, j) tile), else j is reduced.

        Tiles run in order from the block's smallest to its largest bound. With the path's
        `*_INTERIOR` knob, in up to three loops: masked tiles below the interior (per-row
        starts), interior tiles that every row of the block takes whole (no masks), masked
        tiles above (the tail, per-row stops); else in one loop, every tile masked."""
        self.columns = columns
        self.wrote_columns |= columns
        if s.step != 1 or (self.axes(s.start) | self.axes(s.stop)) - {"i"}:
            raise _no(f"j loop {s.var!r} with step {s.step} or bounds beyond rows")
        lo, hi = (
            self.bind(n, cast(self.expr(x), "int64").code)
            for n, x in (("_lo", s.start), ("_hi", s.stop))
        )
        rm = self.masks["i"]
        per_lo, per_hi = bool(self.axes(s.start)), bool(self.axes(s.stop))
        blo = self.bind("_jlo", f"tl.min(tl.where({rm}, {lo}, {_BIG}))") if per_lo else lo
        bhi = self.bind("_jhi", f"tl.max(tl.where({rm}, {hi}, 0))") if per_hi else hi
        self.deps[s.var] = frozenset("j")
        self.plan_resident(s.body)
        bounds = (lo, hi, bhi, per_lo or per_hi)
        kind = "FLASH" if _rescales(s.body) else "OUT" if columns else "TILE"
        if not self.config[f"{kind}_INTERIOR"]:
            return self.j_tiles(s, blo, bhi, bounds, masked=True)
        # the interior [a, b): tiles inside every valid row's [lo, hi)
        a, fhi = blo, hi
        if per_lo:  # the first tile start at or above every row's lo
            flo = self.bind("_jflo", f"tl.max(tl.where({rm}, {lo}, {blo}))")
            up = f"(tl.maximum({flo} - {blo}, 0) + BLOCK_J - 1) // BLOCK_J"
            a = self.bind("_ja", f"{blo} + {up} * BLOCK_J")
            self.j_tiles(s, blo, a, bounds, masked=True)
        if per_hi:
            fhi = self.bind("_jfhi", f"tl.min(tl.where({rm}, {hi}, {bhi}))")
        whole = f"tl.maximum({fhi} - {blo}, 0) // BLOCK_J"  # tiles from blo that end by fhi
        b = self.bind("_jb", f"tl.maximum({a}, {blo} + {whole} * BLOCK_J)")
        self.j_tiles(s, a, b, bounds, masked=False)
        self.j_tiles(s, b, bhi, bounds, masked=True)

    def j_tiles(self, s: L.Loop, start: str, stop: str, bounds, masked: bool) -> None:
        """One loop over the j tiles [start, stop), the j body rendered inside it."""
        lo, hi, bhi, per_row = bounds
        j0 = self.fresh("_j0")
        self.emit(f"for {j0} in range({start}, {stop}, BLOCK_J):")
        self.depth += 1
        jv = self.bind(
            "v_" + _ident(s.var), f"tl.cast({j0} + tl.arange(0, BLOCK_J), tl.int64)[None, :]"
        )
        self.jm = None
        if masked:
            cm = self.bind("_cm", f"{jv} < {bhi}")
            jm = f"({jv} >= {lo}) & ({jv} < {hi}) & {cm}" if per_row else cm
            self.jm = self.bind("_jm", f"tl.broadcast_to({jm}, [BLOCK_I, BLOCK_J])")
            self.masks["j"] = cm
        self.jv, self.j0, self.jhi = jv, j0, bhi
        self.env[s.var], self.deps[s.var] = Val(jv, "int64", True), frozenset("j")
        self.in_j, self.pending, self.j_var, self.streamed = True, {}, s.var, True
        saved = dict(self.env), dict(self.locals)
        for st in s.body:
            self.stmt(st)
        self.groups()
        self.env, self.locals = saved
        self.in_j = False
        self.masks.pop("j", None)
        self.depth -= 1

    def where_j(self, x: str, other: str) -> str:
        """`x` as a [BLOCK_I, BLOCK_J] tile with `other` outside j's bounds (masked tiles)."""
        if self.jm is None:
            return f"tl.broadcast_to({x}, [BLOCK_I, BLOCK_J])"
        return f"tl.where({self.jm}, {x}, {other})"

    # -- whole kernel
    def render(self) -> RenderedKernel:
        self.widths: set[str] = set()
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
            # last row block first: under a causal bound it has the most j tiles (balance)
            f"({lo} + ({blocks} - 1 - {pid} % {blocks}) * BLOCK_I + tl.arange(0, BLOCK_I))[:, None]",
        )
        self.masks["i"] = self.bind("_rm", f"{iv} < {hi}")
        self.env[i], self.deps[i] = Val(iv, "int64", True), frozenset("i")
        self.stmts(body)
        lines = self.lines[head_at:]
        self.lines = self.lines[:head_at]
        kind = "FLASH" if self.flash else "OUT" if self.wrote_columns else "TILE"
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
