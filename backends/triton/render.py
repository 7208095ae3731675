"""LoopProgram -> Triton Python source (pure text generation; no GPU, no triton import).

Mapping (SIMT style, correct for all of LoopIR):
- A kernel whose body is `Let`s then a nest of `parallel` loops (bounds computable on the host from
  sizes) becomes a grid: the flattened nest's iterations are lanes `_lane = pid * BLOCK + arange`.
  Any other kernel runs as one program with `BLOCK = 1`. Kernels containing a `Gemm` use one
  iteration per program (`BLOCK = 1`) so the Gemm's operands are uniform and it can use `tl.dot`.
- Every value inside is a `[BLOCK]` tensor (or a uniform scalar). Other loops become `for` loops;
  a loop whose bounds differ per lane runs to the lanes' maximum trip count under a per-lane mask.
- `If` never branches: it narrows the current mask; stores are masked, locals update by `tl.where`.
- Scalar locals are `[BLOCK]` tensors; local arrays of constant size K are `[BLOCK, K']` tensors
  (K' = next power of two) read and written through a column `arange` (local_arrays.py).
- Arithmetic on fp16/bf16 runs in fp32 and is rounded back to the node's dtype, like numpy.

This is the generic path. Kernels shaped as rows x a streamed j (kernel sums, attention, Gram)
first try the tile fast paths of `tile.py` (2-D tiles, flash attention); `render_kernel` falls
back here when they do not apply. Each kernel's source starts with `# path: ...` saying which.

`values.py` holds the dtype tables and value helpers; `ops.py` the per-op syntax and how a call
is applied (`render_call`); `program.py` assembles the module (helpers,
kernels, and the host `launch`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import sympy

from tensorc.errors import UnsupportedError
from tensorc.ir import loop_ir as L

from .local_arrays import LocalArrays
from .ops import render_call
from .strips import merge_strips
from .values import (
    Val,
    _const_code,
    _contains,
    _free_vars,
    _ident,
    _loaded_buffers,
    _Local,
    _sym_code,
    _tl,
    _trips,
    cast,
    host_expr,
    scalar_param,
)

LANE_COLUMNS = 2**14  # most elements of one [BLOCK, width] local array (width set at launch)

# --- kernels -------------------------------------------------------------------------------------


@dataclass
class RenderedKernel:
    name: str
    source: str
    params: list[tuple[str, str]]  # (kind, name): kind in buffer | scalar | size
    grid: list[str]  # host launcher lines computing `_grid`
    block: int
    num_warps: int
    constexprs: dict[str, int | str] = field(default_factory=dict)  # str: host code
    path: str = ""  # which code path rendered it (also the source's first line)
    num_stages: int | None = None  # None: the config's


class KernelWriter(LocalArrays):
    """Renders one `Kernel` to a `@triton.jit` function (locals: local_arrays.py)."""

    def __init__(self, prog: L.LoopProgram, kernel: L.Kernel, index: int, config: dict):
        self.prog, self.kernel, self.config = prog, kernel, config
        self.name = f"k{index}_{_ident(kernel.name)}"
        self.buffers = {b.name: b for b in kernel.buffers}
        self.all_sizes = set(prog.sizes) | {n for n, _ in prog.static_sizes} | set(kernel.sizes)
        self.static = dict(prog.static_sizes)
        self.used_sizes: list[str] = []
        self.lines: list[str] = []
        self.depth = 1
        self.counter = 0
        self.env: dict[str, Val] = {}
        self.locals: dict[str, _Local] = {}
        self.mask: str | None = None  # narrowing of the lanes by If / per-lane loop bounds
        self.lane_mask: str | None = None  # lanes past the parallel domain (grid mode)
        self.loaded = _loaded_buffers(kernel.body, set())
        self.has_gemm = _contains(kernel.body, (L.Gemm, L.Copy))  # both are tiled by BM x BN
        self.cx: dict[str, str] = {}  # kernel constexprs computed on the host: name -> code

    # -- emission helpers
    def emit(self, line: str) -> None:
        self.lines.append("    " * self.depth + line)

    def fresh(self, hint: str) -> str:
        self.counter += 1
        return f"{hint}_{self.counter}"

    def bind(self, hint: str, code: str) -> str:
        name = self.fresh(hint)
        self.emit(f"{name} = {code}")
        return name

    def constexpr(self, prefix: str, code: str) -> str:
        """A kernel constexpr computed on the host by `code` (one per distinct code)."""
        for k, v in self.cx.items():
            if v == code:
                return k
        name = f"{prefix}{len(self.cx)}"
        self.cx[name] = code
        return name

    def size_code(self, name: str) -> str:
        if name not in self.all_sizes:
            raise UnsupportedError(
                f"triton backend: kernel {self.kernel.name!r} reads unknown "
                f"size or variable {name!r}"
            )
        if name not in self.used_sizes:
            self.used_sizes.append(name)
        return "v_" + _ident(name)

    def full_mask(self) -> str | None:
        """The lanes that execute here: `mask` already includes `lane_mask` when both exist."""
        return self.mask or self.lane_mask

    def lanes(self, code: str) -> str:
        return f"tl.broadcast_to({code}, [BLOCK])"

    def lanes_of(self, v: Val) -> str:
        """`v` across the lanes; a uniform bool goes through int8, since the interpreter splats a
        0-d bool as int64 data and a mask of that is "mask has unsupported dtype"."""
        if v.dtype == "bool" and not v.varying:
            return f"({self.lanes(f'tl.cast({v.code}, tl.int8)')} != 0)"
        return self.lanes(v.code)

    # -- expressions
    def expr(self, e: L.LExpr) -> Val:
        if isinstance(e, L.Const):
            return Val(_const_code(e.value, e.dtype), e.dtype, False)
        if isinstance(e, L.Var):
            buf = self.buffers.get(e.name)
            if e.name in self.env:
                v = self.env[e.name]
            elif buf is not None and not buf.shape and buf.role != "scalar":
                v = Val(f"tl.load(p_{_ident(buf.name)})", buf.dtype, False)  # a 0-d temp
            else:
                v = Val(self.size_code(e.name), "int64", False)
            return cast(v, e.dtype) if e.dtype and v.dtype != e.dtype else v
        if isinstance(e, L.Load):
            buf = self.buffers.get(e.buffer)
            if buf is None:
                raise UnsupportedError(
                    f"triton backend: Load from {e.buffer!r}, which is not a "
                    f"buffer of kernel {self.kernel.name!r}"
                )
            ptr = self.lanes(f"p_{_ident(buf.name)} + {self.offset(buf, e.index)}")
            m = self.full_mask()
            code = f"tl.load({ptr}, mask={m}, other=0)" if m else f"tl.load({ptr})"
            return cast(Val(code, buf.dtype, True), e.dtype)
        if isinstance(e, L.LocalRead):
            loc = self.locals.get(e.name)
            if loc is None:
                raise UnsupportedError(f"triton backend: LocalRead of undeclared local {e.name!r}")
            if not loc.dims:
                return cast(Val(loc.py, loc.dtype, True), e.dtype)
            sel = self.column_select(loc, e.index)
            red = f"tl.sum(tl.where({sel}, {loc.py}, 0), axis=1)"
            if loc.dtype == "bool":
                return cast(Val(f"({red} != 0)", "bool", True), e.dtype)
            return cast(Val(f"tl.cast({red}, {_tl(loc.dtype)})", loc.dtype, True), e.dtype)
        if isinstance(e, L.Call):
            return self.call(e)
        raise UnsupportedError(f"triton backend: expression {type(e).__name__} is not supported")

    def call(self, e: L.Call) -> Val:
        return render_call(self, e)

    def offset(self, buf: L.Buffer, index: tuple[L.LExpr, ...]) -> str:
        if len(index) != len(buf.shape):
            raise UnsupportedError(
                f"triton backend: {buf.name!r} has rank {len(buf.shape)} but is "
                f"indexed with {len(index)} indices"
            )
        if not index:
            return "0"
        code = cast(self.expr(index[0]), "int64").code
        for dim, ix in zip(buf.shape[1:], index[1:]):
            d = _sym_code(sympy.sympify(dim), self.size_code)
            code = f"({code} * {d} + {cast(self.expr(ix), 'int64').code})"
        return code

    def scalar(self, v: Val) -> str:
        """A uniform scalar for `v` (BLOCK == 1 kernels only)."""
        if not v.varying:
            return v.code
        assert self.block == 1, "scalar() of a lane value outside a BLOCK=1 kernel"
        return (
            f"tl.max({self.lanes(v.code)}, axis=0)"
            if v.dtype != "bool"
            else f"(tl.max({self.lanes(v.code)}.to(tl.int8), axis=0) != 0)"
        )

    # -- statements
    def stmts(self, body: tuple[L.Stmt, ...]) -> None:
        saved_env, saved_locals = dict(self.env), dict(self.locals)
        for s in body:
            self.stmt(s)
        self.env, self.locals = saved_env, saved_locals

    def stmt(self, s: L.Stmt) -> None:
        method = getattr(self, "stmt_" + type(s).__name__, None)
        if method is None:
            raise UnsupportedError(f"triton backend: statement {type(s).__name__} is not supported")
        method(s)

    def stmt_Let(self, s: L.Let) -> None:
        v = self.expr(s.value)
        self.env[s.name] = Val(self.bind("v_" + _ident(s.name), v.code), v.dtype, v.varying)

    def stmt_Store(self, s: L.Store) -> None:
        buf = self.buffers.get(s.buffer)
        if buf is None or buf.role == "scalar":
            raise UnsupportedError(
                f"triton backend: Store to {s.buffer!r}, which is not a tensor "
                f"buffer of kernel {self.kernel.name!r}"
            )
        v = cast(self.expr(s.value), buf.dtype)
        ptr = self.lanes(f"p_{_ident(buf.name)} + {self.offset(buf, s.index)}")
        m = self.full_mask()
        self.emit(f"tl.store({ptr}, {v.code}, mask={m})" if m else f"tl.store({ptr}, {v.code})")
        if s.buffer in self.loaded:
            # other threads of this program may read what was just written
            self.emit("tl.debug_barrier()")

    def stmt_If(self, s: L.If) -> None:
        c = cast(self.expr(s.cond), "bool")
        outer = self.mask
        base = self.full_mask()
        cond = self.bind("_c", self.lanes_of(c))  # W4's causal `j <= i` over loop variables
        for body, m in ((s.then, cond), (s.orelse, f"~{cond}")):
            if not body:
                continue
            self.mask = self.bind("_m", f"{base} & {m}" if base else m)
            self.stmts(body)
        self.mask = outer

    def stmt_Loop(self, s: L.Loop) -> None:
        if s.step <= 0:
            raise UnsupportedError(f"triton backend: loop {s.var!r} has step {s.step} (need > 0)")
        lo, hi = cast(self.expr(s.start), "int64"), cast(self.expr(s.stop), "int64")
        var = "v_" + _ident(s.var)
        if not (lo.varying or hi.varying):
            it = self.fresh("_i")
            a, b = (
                str(int(x.value)) if isinstance(x, L.Const) else v.code
                for x, v in ((s.start, lo), (s.stop, hi))
            )
            step = f", {s.step}" if s.step != 1 else ""
            self.emit(f"for {it} in range({a}, {b}{step}):")
            self.depth += 1
            self.env[s.var] = Val(self.bind(var, f"tl.cast({it}, tl.int64)"), "int64", False)
            self.stmts(s.body)
            self.depth -= 1
            return
        # bounds differ per lane: run to the largest trip count, mask the lanes that are done
        lo_n = self.bind("_lo", self.lanes(lo.code))
        trips = _trips(lo_n, hi.code, s.step, False)
        cnt = self.bind("_n", f"tl.maximum({trips}, 0)")
        m = self.full_mask()
        top = f"tl.max(tl.where({m}, {cnt}, 0), axis=0)" if m else f"tl.max({cnt}, axis=0)"
        t = self.fresh("_t")
        self.emit(f"for {t} in range(0, {top}):")
        self.depth += 1
        outer = self.mask
        self.env[s.var] = Val(
            self.bind(var, f"{lo_n} + {t}" + (f" * {s.step}" if s.step != 1 else "")), "int64", True
        )
        self.mask = self.bind("_m", f"{m} & ({t} < {cnt})" if m else f"{t} < {cnt}")
        self.stmts(s.body)
        self.mask = outer
        self.depth -= 1

    def stmt_Gemm(self, g: L.Gemm) -> None:
        if self.block != 1:
            raise UnsupportedError("triton backend: Gemm inside a lane-vectorised kernel")
        from .gemm import render_gemm

        render_gemm(self, g, grid=self.gemm_grid)

    def stmt_Copy(self, s: L.Copy) -> None:
        if self.block != 1 or s.dst.local or s.src.local:
            raise UnsupportedError("triton backend: Copy of a local or in a lane-vectorised kernel")
        from .gemm import render_copy

        render_copy(self, s)

    # -- whole kernel
    def grid_nest(self) -> tuple[list[L.Stmt], list[L.Loop], tuple[L.Stmt, ...]]:
        """(leading Lets, flattened parallel nest, innermost body), or no nest -> single program."""
        body = list(self.kernel.body)
        lets = []
        while body and isinstance(body[0], L.Let):
            lets.append(body.pop(0))
        nest: list[L.Loop] = []
        inner: tuple[L.Stmt, ...] = tuple(body)
        outer_vars = {x.name for x in lets}
        while len(inner) == 1 and isinstance(inner[0], L.Loop) and inner[0].kind == "parallel":
            loop = inner[0]
            bounds = [host_expr(b, self.all_sizes) for b in (loop.start, loop.stop)]
            used = _free_vars(loop.start, set()) | _free_vars(loop.stop, set())
            if None in bounds or used & outer_vars:
                break
            nest.append(loop)
            outer_vars.add(loop.var)
            inner = loop.body
        if not nest:
            return [], [], self.kernel.body
        return lets, nest, inner

    def render(self) -> RenderedKernel:
        self.widths: set[str] = set()
        lets, nest, inner = self.grid_nest()
        self.block = 1 if (self.has_gemm or not nest) else int(self.config["BLOCK"])
        body = self.kernel.body
        self.gemm_grid = (
            not nest
            and isinstance(body[-1], L.Gemm)
            and all(isinstance(x, L.Let) for x in body[:-1])
            and None
            not in [host_expr(x, self.all_sizes) for x in (body[-1].m, body[-1].n, body[-1].batch)]
        )
        head_at = len(self.lines)
        for s in lets:
            self.stmt(s)
        grid: list[str] = []
        if nest:
            counts = []
            host_counts = []
            for loop in nest:
                lo, hi = cast(self.expr(loop.start), "int64"), cast(self.expr(loop.stop), "int64")
                zero = isinstance(loop.start, L.Const) and loop.start.value == 0
                counts.append(
                    (
                        self.bind(
                            "_cnt", f"tl.maximum({_trips(lo.code, hi.code, loop.step, zero)}, 0)"
                        ),
                        None if zero else lo.code,
                        loop,
                    )
                )
                hl, hh = (host_expr(b, self.all_sizes) for b in (loop.start, loop.stop))
                host_counts.append(f"max(0, {_trips(hl, hh, loop.step, zero)})")
            total = " * ".join(c for c, _, _ in counts)
            self.emit("_lane = tl.cast(tl.program_id(0), tl.int64) * BLOCK + tl.arange(0, BLOCK)")
            self.lane_mask = self.bind("lane_mask", f"_lane < {total}")
            rem = "_lane"
            for i, (cnt, lo, loop) in reversed(list(enumerate(counts))):
                idx = rem if i == 0 else f"{rem} % {cnt}"
                v = f"({idx}) * {loop.step}" if loop.step != 1 else idx
                v = self.bind("v_" + _ident(loop.var), f"{lo} + {v}" if lo else v)
                self.env[loop.var] = Val(v, "int64", True)
                if i:
                    rem = self.bind("_r", f"{rem} // {cnt}")
            grid = [f"_n = {' * '.join(host_counts)}", f"_grid = (triton.cdiv(_n, {self.block}),)"]
        elif self.gemm_grid:
            g = self.kernel.body[-1]
            bm, bn, bb = (host_expr(x, self.all_sizes) for x in (g.m, g.n, g.batch))
            bm_, bn_ = int(self.config["BM"]), int(self.config["BN"])
            grid = [
                (
                    f"_n = max(0, triton.cdiv({bm}, {bm_}) * triton.cdiv({bn}, {bn_})) * "
                    f"max(0, {bb})"
                ),
                f"_grid = (triton.cdiv({bm}, {bm_}) * triton.cdiv({bn}, {bn_}), {bb})",
            ]
        else:
            grid = ["_n = 1", "_grid = (1,)"]
        self.stmts(inner)
        body = self.lines[head_at:]
        self.lines = self.lines[:head_at]
        cx = {"BLOCK": self.block, **self.cx}
        wide = sorted(self.cx[w] for w in self.widths if w in self.cx)
        if nest and wide:
            # lanes x columns of a local array stay within LANE_COLUMNS elements (Triton allows
            # 2**20 per tensor; registers run out long before): BLOCK shrinks as widths grow
            most = f"max(1, {', '.join(wide)})"
            grid[-1:] = [
                f"_blk = max(1, min({self.block}, {LANE_COLUMNS} // {most}))",
                "_grid = (triton.cdiv(_n, _blk),)",
            ]
            cx["BLOCK"] = "_blk"
        if self.has_gemm:
            cx.update({k: int(self.config[k]) for k in ("BM", "BN", "BK")})
        warps = int(self.config["num_warps"]) if (self.block > 1 or self.has_gemm) else 1
        path = "generic: one lane per iteration of the parallel nest" + (
            ", Gemm through tl.dot" if self.has_gemm else ""
        )
        return self.finish(body, grid, cx, warps, path)

    def finish(
        self, body: list[str], grid: list[str], cx: dict, warps: int, path: str
    ) -> RenderedKernel:
        """Signature and preamble (sizes to int64, scalar parameters, column aranges) + `body`."""
        params: list[tuple[str, str]] = []
        for b in self.kernel.buffers:
            params.append(("scalar" if b.role == "scalar" else "buffer", b.name))
        for name in sorted(self.used_sizes, key=lambda n: (n not in self.kernel.sizes, n)):
            params.append(("size", name))
        pre = []
        for kind, name in params:
            if kind == "size":
                pre.append(f"    v_{_ident(name)} = tl.cast(v_{_ident(name)}, tl.int64)")
        for kind, name in params:
            if kind == "scalar":
                pre.append("    " + scalar_param(name, self.buffers[name].dtype))
        for w in sorted(self.widths, key=lambda w: (not w.isdigit(), int(w) if w.isdigit() else w)):
            pre.append(f"    _col{w} = tl.arange(0, {w})")
        sig = [{"size": "v_", "scalar": "s_"}.get(k, "p_") + _ident(n) for k, n in params]
        sig += [f"{k}: tl.constexpr" for k in cx]
        head = [f"# path: {path}", "@triton.jit", f"def {self.name}({', '.join(sig)}):"]
        src = "\n".join(head + pre + body) + "\n"
        return RenderedKernel(self.name, src, params, grid, cx.get("BLOCK", 1), warps, cx, path)

    def setup_scalars(self) -> None:
        for b in self.kernel.buffers:
            if b.role == "scalar":
                self.env[b.name] = Val("v_" + _ident(b.name), b.dtype, False)


def render_kernel(prog: L.LoopProgram, kernel: L.Kernel, index: int, config: dict):
    """The tile / flash template where the kernel matches it (tile.py), else the generic path."""
    from .tile import TileWriter, row_nest

    kernel = replace(kernel, body=merge_strips(kernel.body))  # W4 at B > 16 tiles its batch
    kinds = [KernelWriter]
    sizes = set(prog.sizes) | {n for n, _ in prog.static_sizes} | set(kernel.sizes)
    fast = config.get("fast_paths", True) and not _contains(kernel.body, L.Gemm)
    if fast and row_nest(prog, kernel, sizes) is not None:
        # first where j streams (the fast path) or an accumulator array has a size beyond the
        # specialised ones (row tiles hold it as [BLOCK_I, BE]; the generic path would select
        # its columns one by one); else only where the generic path cannot
        body = list(_walk(kernel.body))
        streams = any(isinstance(s, L.Loop) and s.kind == "reduce" for s in body)
        static = {n for n, _ in prog.static_sizes}
        wide = any(isinstance(s, L.Local) and not _static_shape(s.shape, static) for s in body)
        kinds.insert(0 if streams or wide else 1, TileWriter)
    errors = {}
    for kind in kinds:
        w = kind(prog, kernel, index, config)
        w.setup_scalars()
        try:
            return w.render()
        except UnsupportedError as err:
            errors[kind] = err
    raise errors[KernelWriter]  # the generic path's reason is the one users can act on


def _static_shape(shape: tuple[L.LExpr, ...], static: set[str]) -> bool:
    return all(isinstance(d, L.Const) or (isinstance(d, L.Var) and d.name in static) for d in shape)


def _walk(body):
    for s in body:
        yield s
        for kids in (getattr(s, "body", ()), getattr(s, "then", ()), getattr(s, "orelse", ())):
            yield from _walk(kids)
