"""The generic path's locals (mixed into `render.KernelWriter`): a scalar local is a `[BLOCK]`
tensor; a local array of K elements is a `[BLOCK, K']` tensor (K' the next power of two, or a
constexpr width set at launch when K depends on sizes beyond the specialised ones), read and
written through a column `arange` (`_col{K'}`) and `tl.where`.
"""

from __future__ import annotations

from tensorc.errors import UnsupportedError
from tensorc.ir import loop_ir as L
from tensorc.ir.loop_printer import format_expr

from .values import _ident, _Local, _next_pow2, _tl, cast, host_expr


class LocalArrays:
    def column_select(self, loc: _Local, index: tuple[L.LExpr, ...]) -> str:
        if len(index) != len(loc.dims):
            raise UnsupportedError(
                f"triton backend: local {loc.py} indexed with {len(index)} "
                f"indices, declared with {len(loc.dims)}"
            )
        flat = cast(self.expr(index[0]), "int64").code
        for d, ix in zip(loc.dims[1:], index[1:]):
            flat = f"({flat} * {d} + {cast(self.expr(ix), 'int64').code})"
        flat = self.bind("_ix", self.lanes(flat))
        return f"(_col{loc.width}[None, :] == {flat}[:, None])"

    def stmt_Local(self, s: L.Local) -> None:
        dims, host = [], []  # each extent on the device and on the host
        for d in s.shape:
            if isinstance(d, L.Const):
                dims.append(str(int(d.value)))
            elif isinstance(d, L.Var) and d.name in self.static:
                dims.append(str(int(self.static[d.name])))
            else:
                h = host_expr(d, self.all_sizes)
                if h is None:
                    raise UnsupportedError(
                        f"triton backend: local array {s.name!r} has extent {format_expr(d)}, "
                        "which is not computable from the sizes on the host"
                    )
                dims.append(cast(self.expr(d), "int64").code)
                host.append(f"max(1, {h})")
        if len(host) > 1:  # acc[M][E] (the attention gradient): M * E columns per lane
            raise UnsupportedError(
                f"triton backend: local array {s.name!r} spans {len(host)} sizes beyond the "
                "specialised ones; the generic path holds at most one per lane"
            )
        init = cast(self.expr(s.init), s.dtype)
        py = self.fresh("l_" + _ident(s.name))
        loc = _Local(py, s.dtype, tuple(dims))
        if dims:
            size = 1
            for d in dims:
                size *= int(d) if d.isdigit() else 1  # the static extents; `host` has the rest
            # a size beyond the specialised ones: the width is a constexpr set at launch, so the
            # kernel is compiled once per power of two (W4/W5 at B > 16 hold acc[E] this way)
            loc.width = (
                self.constexpr("W", f"triton.next_power_of_2({' * '.join([str(size), *host])})")
                if host
                else str(_next_pow2(size))
            )
            self.widths.add(loc.width)
            store_dt = _tl("int8" if s.dtype == "bool" else s.dtype)
            self.emit(
                f"{py} = tl.full([BLOCK, {loc.width}], 0, {store_dt}) + "
                f"tl.cast({init.code}, {store_dt})"
            )
        else:
            self.emit(f"{py} = {self.lanes_of(init)}")
        self.locals[s.name] = loc

    def stmt_Assign(self, s: L.Assign) -> None:
        loc = self.locals.get(s.name)
        if loc is None:
            raise UnsupportedError(f"triton backend: Assign to undeclared local {s.name!r}")
        v = cast(self.expr(s.value), loc.dtype)
        if not loc.dims:
            if self.mask:
                val = self.lanes_of(v) if v.dtype == "bool" and not v.varying else v.code
                self.emit(f"{loc.py} = tl.where({self.mask}, {val}, {loc.py})")
            else:
                self.emit(f"{loc.py} = {self.lanes_of(v)}")
            return
        sel = self.column_select(loc, s.index)
        if self.mask:
            sel = f"{sel} & {self.mask}[:, None]"
        val = self.lanes(v.code if loc.dtype != "bool" else f"tl.cast({v.code}, tl.int8)")
        self.emit(f"{loc.py} = tl.where({sel}, {val}[:, None], {loc.py})")

