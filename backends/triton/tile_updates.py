"""Accumulator updates inside the j loop of a tile kernel, each in its tile form (tile.py).

- fold      acc = acc (+|max|min) v                   -> reduce the masked tile along axis 1
- logsumexp m, l with one exp per term                -> running max, l rescaled once per tile
- arg       best, idx = (v, j) if better              -> tile min/max, smallest index of ties
- e-fold    acc[e] += t * w(j, e)                     -> t @ W (tl.dot when BE >= 16)
- softmax   m, l, acc[e] = acc[e] * alpha + p w(j, e) -> flash attention: P @ V through tl.dot
The multi-local forms are those `schedule/reduction_rules.py` emits; they are recognised by their
anchors (the Assigns) and the Lets between them are not rendered (`TileWriter.skipped`).
"""

from __future__ import annotations

from tensorc.ir import loop_ir as L
from tensorc.ir.types import is_float

from .ops import LOG2E
from .values import _BIG, _FOLDS, FLOAT_TYPES, Val, _ident, _no, _read_of, _strip_cast, _tl, cast

NEG_INF = "float('-inf')"


class UpdateRules:
    """Mixin of `TileWriter`: the tile forms of accumulator updates."""

    def fold(self, name: str, fn: str, v: L.LExpr) -> None:
        loc = self.locals[name]
        red, ident = _FOLDS[fn]
        x = cast(self.expr(v), loc.dtype).code
        tile = f"{red}({self.where_j(x, ident)}, axis=1, keep_dims=True)"
        if fn == "add":
            return self.set_local(name, f"{loc.py} + {tile}")
        if is_float(loc.dtype):  # numpy: a NaN makes max/min NaN (tl.max/tl.min may drop it)
            xv = self.bind("_x", self.where_j(x, ident))
            nan = f"tl.max(({xv} != {xv}).to(tl.int32), axis=1, keep_dims=True) > 0"
            tile = f"tl.where({nan}, float('nan'), {red}({xv}, axis=1, keep_dims=True))"
        op = "tl.maximum" if fn == "max" else "tl.minimum"
        self.set_local(name, f"{op}({loc.py}, {tile}, propagate_nan=tl.PropagateNan.ALL)")

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
                p = self.where_j(cast(self.expr(t), "float32").code, "0")
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
        m = f"({jc} < {self.jhi}) & ({ec} < {hi})" if self.jm else f"{ec} < {hi}"
        wv = self.bind("_w", f"tl.load({ptr}, mask={m}, other=0)")
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
        """(new row max, its finite stand-in, exp(score - stand-in) unmasked) for a running
        max m. In fp32 that exp is exp2(score * log2(e) - stand-in * log2(e)): one FMA per
        element before ex2, where tl.exp pays a subtract and a multiply."""
        t = self.locals[m].dtype
        s = self.bind("_s", cast(self.expr(x), t).code)
        tm = self.bind("_tm", f"tl.max({self.where_j(s, NEG_INF)}, axis=1, keep_dims=True)")
        mn = self.bind("_mn", f"tl.maximum({self.locals[m].py}, {tm})")
        safe = self.bind("_sf", f"tl.where({mn} == float('-inf'), 0.0, {mn})")
        if t != "float32":
            return mn, safe, f"tl.exp({s} - {safe})"
        return mn, safe, f"tl.exp2({s} * {LOG2E} - {self.bind('_sf2', f'{safe} * {LOG2E}')})"

    def logsumexp(self, m: str, lname: str, x: L.LExpr) -> None:
        mn, safe, e = self.tile_max(m, x)
        M, Lc = self.locals[m].py, self.locals[lname].py
        terms = f"tl.sum({self.where_j(e, '0.0')}, axis=1, keep_dims=True)"
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
        mn, safe, e = self.tile_max(m, x)
        M, Lc = self.locals[m].py, self.locals[lname].py
        alpha = self.bind("_al", f"tl.exp({M} - {safe})")
        p = self.bind("_p", self.where_j(e, "0.0"))
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
        v = self.bind("_v", self.where_j(x, f"float('{worst}')"))
        jm = f"{self.jm} & " if self.jm else ""
        nan = is_float(self.locals[best].dtype)  # numpy: the first NaN beats every number
        if nan:  # the tile's first NaN; its best number from the others
            vn = f"tl.min(tl.where({jm}({v} != {v}), {self.jv}, {_BIG}), axis=1, keep_dims=True)"
            vn = self.bind("_vn", vn)
            v = self.bind("_v", f"tl.where({v} != {v}, float('{worst}'), {v})")
        tb = self.bind("_tb", f"{red}({v}, axis=1, keep_dims=True)")
        ti = self.bind(
            "_ti", f"tl.min(tl.where({jm}({v} == {tb}), {self.jv}, {_BIG}), axis=1, keep_dims=True)"
        )
        if nan:
            tb = self.bind("_tb", f"tl.where({vn} != {_BIG}, float('nan'), {tb})")
            ti = self.bind("_ti", f"tl.where({vn} != {_BIG}, {vn}, {ti})")
        tie, better = f"({tb} == {B})", f"({tb} {op} {B}) | ({I} == -1)"
        if nan:
            tie = f"({tie} | (({tb} != {tb}) & ({B} != {B})))"
            better += f" | (({tb} != {tb}) & ({B} == {B}))"
        up = self.bind("_up", f"({ti} != {_BIG}) & ({better} | ({tie} & ({ti} < {I})))")
        self.set_local(best, f"tl.where({up}, {tb}, {B})")
        self.set_local(idx, f"tl.where({up}, {ti}, {I})")
        del self.pending[best], self.pending[idx]
        return True
