"""An inner d loop of a tile kernel as tl.dot (tile.py): `s += a(i, d) * b(j, d) [* uniform]`
or `c = a - b; s += c * c` (as |a|^2 + |b|^2 - 2 a.b), over BLOCK_D chunks, or with the i side
(the Q tile) loaded once before the j loop when d <= RESIDENT_MAX_D. A constant d below DOT_MIN_D
stays a plain loop.
"""

from __future__ import annotations

from tensorc.ir import loop_ir as L

from .values import (
    FLOAT_TYPES,
    Val,
    _free_vars,
    _ident,
    _next_pow2,
    _read_of,
    _strip_cast,
    cast,
    host_expr,
)


def _norm(t: str, axis: int) -> str:
    return f"tl.sum({t} * {t}, axis={axis}, keep_dims=True)"


def _factors(e: L.LExpr) -> list[L.LExpr]:
    """Factors of a product, through float casts (a dot in fp32 skips fp16 rounding of a*b)."""
    if isinstance(e, L.Call) and e.fn == "cast" and e.dtype in ("float16", "bfloat16", "float32"):
        return _factors(e.args[0])
    if isinstance(e, L.Call) and e.fn == "mul":
        return _factors(e.args[0]) + _factors(e.args[1])
    return [e]


class DotRules:
    """Mixin of `TileWriter`: d loops through tl.dot."""

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
        prod = _strip_cast(f.args[1])  # fp16 terms are widened before the sum
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
                xn = self.bind("_xn", self.norm(x, 1))
            if flag:
                self.depth -= 1
            self.resident[id(s)] = (x, w, flag, xn)

    def side_load(self, s: L.Loop, ld: L.Load, shape: str, side: str, hi: str) -> str:
        """Tile of `ld` with the d loop variable set to `shape` (an arange row or column)."""
        saved = dict(self.env)
        self.env[s.var] = Val(shape, "int64", True)
        ptr = f"p_{_ident(ld.buffer)} + {self.offset(self.buffers[ld.buffer], ld.index)}"
        self.env = saved
        m = " & ".join(x for x in (self.masks.get(side), f"({shape} < {hi})") if x)
        return self.bind("_x" if side == "i" else "_y", f"tl.load({ptr}, mask={m}, other=0)")

    def render_dot(self, s, loads, dts, sq, acc, res) -> None:
        hi = cast(self.expr(s.stop), "int64").code
        if res is not None:
            x, w, flag, xn = res
            if flag:
                self.emit(f"if {flag}:")
                self.depth += 1
            rd = self.bind("_rd", f"tl.arange(0, {w})")
            xa, ya = self.dot_operands(s, loads, rd, hi, x)
            dot = self.dot_code(xa, ya, dts)
            self.dot_finish(acc, dot, sq and (xn or self.norm(xa, 1), self.norm(ya, 0)))
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
        """x.y accumulated in place by tl.dot over BLOCK_D chunks (the MMA accumulator), the
        squared norms beside it; `acc` is updated once after the loop."""
        bd = int(self.config["BLOCK_D"])
        d = self.static_extent(s.stop)
        if d is not None:
            bd = min(bd, max(16, _next_pow2(d)))
        dt = self.bind("_dt", "tl.zeros([BLOCK_I, BLOCK_J], tl.float32)")
        if sq:
            nx = self.bind("_nx", "tl.zeros([BLOCK_I, 1], tl.float32)")
            ny = self.bind("_ny", "tl.zeros([1, BLOCK_J], tl.float32)")
        d0 = self.fresh("_d0")
        self.emit(f"for {d0} in range(0, {hi}, {bd}):")
        self.depth += 1
        rd = self.bind("_rd", f"{d0} + tl.arange(0, {bd})")
        xa, ya = self.dot_operands(s, loads, rd, hi, None)
        self.emit(f"{dt} = {self.dot_code(xa, ya, dts, dt)}")
        if sq:
            self.emit(f"{nx} = {nx} + {self.norm(xa, 1)}")
            self.emit(f"{ny} = {ny} + {self.norm(ya, 0)}")
        self.depth -= 1
        self.dot_finish(acc, dt, sq and (nx, ny))

    def dot_operands(self, s, loads, rd, hi, x) -> tuple[str, str]:
        """The i-side (`x` when resident) and j-side tiles of the d chunk `rd`."""
        xa = x or self.side_load(s, loads[0], f"{rd}[None, :]", "i", hi)
        return xa, self.side_load(s, loads[1], f"{rd}[:, None]", "j", hi)

    def dot_code(self, xa: str, ya: str, dts, into: str | None = None) -> str:
        """tl.dot of two tiles: fp16/bf16 as they are, else in fp32 (TF32 if allowed)."""
        acc = f", {into}" if into else ""
        if dts[0] == dts[1] and dts[0] != "float32":
            return f"tl.dot({xa}, {ya}{acc})"
        f32, prec = "tl.float32", self.precision()
        return f"tl.dot(tl.cast({xa}, {f32}), tl.cast({ya}, {f32}){acc}, input_precision={prec!r})"

    def norm(self, t: str, axis: int) -> str:
        return _norm(self.bind("_t", f"tl.cast({t}, tl.float32)"), axis)

    def dot_finish(self, acc: str, dot: str, norms) -> None:
        """acc += coef * x.y, or acc += |x|^2 + |y|^2 - 2 x.y with `norms` = (|x|^2, |y|^2)."""
        if not norms:
            return self.emit(f"{acc} = {acc} + {self.coef + ' * ' if self.coef else ''}{dot}")
        self.emit(f"{acc} = {acc} + {norms[0]} + {norms[1]} - 2.0 * {dot}")
