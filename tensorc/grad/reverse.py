"""Reverse-mode differentiation: a forward `Def` -> its backward `Def` (TensorIR -> TensorIR).

Input invariant: a checked forward def (canonical TensorIR, see tensor_ir.py).
Output invariant: a checked def whose inputs are the forward inputs, the forward outputs (saved
values) and one cotangent per float output, and whose outputs are the gradients of the requested
inputs; it re-parses from its printed text and runs through the normal pipeline and backends.

How:
1. SSA: each write of a tensor is a version (`O1 = O1 + B1` reads the previous version); the
   last version of an output is the saved forward output, the others are recomputed temps.
2. Statements are visited in reverse. The cotangent of a version flows into its right-hand side
   (`backprop`): pointwise calls by `derivatives.derivative_rules`, reductions by
   `reductions.reduce_rules` (sum broadcasts; logsumexp gives softmax weights; max/min/kmin pass to the
   element argmax/argmin/argkmin selects, ties to the first; prod multiplies the other terms).
3. Each read that receives a cotangent becomes one gradient statement via `transpose.transpose`
   (accumulated with `dX = dX + ...` when several reads feed one tensor).
4. Saved values by cost: the forward outputs are saved (already computed); a nonlinear reduction's
   value (a logsumexp, an argmax) is recomputed once into a small temp over its free indices,
   never the N x M scores; forward temporaries are recomputed where the backward reads them.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from tensorc.errors import ArgumentError, UnsupportedError
from tensorc.grad.build import (
    add,
    cast,
    const,
    index,
    mul,
    neg,
    select,
    sum_over,
    unique_binders,
)
from tensorc.grad.derivatives import rule_for
from tensorc.grad.reductions import reduce_rules
from tensorc.grad.statements import (
    add_to,
    clip_ranges,
    covers,
    full_domain,
    input_dims,
    merge,
    needed_forward,
    read_saved_copies,
    rename_reads,
    reuse_saved,
    unmasked,
    use_hoisted,
)
from tensorc.grad.transpose import Context, Transposed, transpose
from tensorc.ir.tensor_ir import (
    Access,
    Call,
    Def,
    Expr,
    Index,
    Range,
    Reduce,
    Statement,
    TensorDecl,
    walk,
)
from tensorc.ir.tir_utils import conjoin as conj
from tensorc.ir.tir_utils import conjuncts, free_indices, product_factors, substitute
from tensorc.ir.types import is_float
from tensorc.ir.verifier import size_value_of


@dataclass(frozen=True, slots=True)
class Gradient:
    """A forward def and its backward def, with how their tensors correspond.

    The backward's inputs are `forward.inputs`, then `saved` (forward outputs), then the
    cotangents (`cotangents`: output name -> input name); its outputs are `grads` (input name ->
    output name), in `wrt` order. `notes` says what was saved or recomputed and why.
    """

    forward: Def
    backward: Def
    wrt: tuple[str, ...]
    saved: tuple[str, ...]
    cotangents: tuple[tuple[str, str], ...]
    grads: tuple[tuple[str, str], ...]
    notes: tuple[str, ...]
    values: tuple[str, ...] = ()  # outputs of a saving forward with no cotangent (saved only)


class _Names:
    """Fresh names that clash with no tensor, size or index of the def."""

    def __init__(self, d: Def):
        used = {t.name for t in (*d.inputs, *d.outputs, *d.temps)} | set(d.sizes)
        for st in d.body:
            used |= set(st.indices)
            for e in walk(st.rhs):
                if isinstance(e, Index):
                    used.add(e.name)
                if isinstance(e, Reduce):
                    used |= {r.index for r in e.ranges}
        self.used = used

    def __call__(self, base: str) -> str:
        name, k = base, 0
        while name in self.used:
            k += 1
            name = f"{base}_{k}"
        self.used.add(name)
        return name


def _value_reads(e: Expr) -> set[str]:
    """Tensors read as values (not through index positions: a gather's index tensor)."""
    if isinstance(e, Access):
        return {e.tensor}
    out: set[str] = set()
    for c in e.args if isinstance(e, Call) else (e.body,) if isinstance(e, Reduce) else ():
        out |= _value_reads(c)
    return out


@dataclass(frozen=True, slots=True)
class _Version:
    stmt: Statement  # writes `stmt.tensor`, the version's name; reads versions
    prev: str | None  # the version this statement overwrites
    decl: TensorDecl  # the forward tensor


class _Reverse:
    def __init__(self, d: Def, wrt: tuple[str, ...], invert: bool = True, values=()):
        self.d = d
        self.values = tuple(values)
        self.invert = invert
        self.fresh = _Names(d)
        self.wrt = wrt
        self.versions: list[_Version] = []
        self.decls: dict[str, TensorDecl] = {t.name: t for t in d.inputs}
        self._ssa()
        self.active = self._active()
        self.cot: dict[str, str] = {}  # version -> its cotangent tensor
        self.written: set[str] = set()  # cotangent tensors written at least once
        self.temps: dict[str, TensorDecl] = {}
        self.hoisted: dict[tuple, Access] = {}
        self.recompute: list[Statement] = []  # value temps of nonlinear reductions
        self.adjoint: list[Statement] = []
        self.notes: list[str] = []
        self.grad_names = {x: self.fresh(f"d_{x}") for x in wrt}
        self.cot_inputs = {
            o.name: self.fresh(f"d_{o.name}")
            for o in d.outputs
            if is_float(o.dtype) and o.name not in self.values
        }

    # -- 1. versions -------------------------------------------------------------------------
    def _ssa(self) -> None:
        writes: dict[str, int] = {}
        for st in self.d.body:
            writes[st.tensor] = writes.get(st.tensor, 0) + 1
        outputs = {o.name for o in self.d.outputs}
        current = {t.name: t.name for t in self.d.inputs}
        seen: dict[str, int] = {}
        for st in self.d.body:
            seen[st.tensor] = seen.get(st.tensor, 0) + 1
            last = seen[st.tensor] == writes[st.tensor]
            name = (
                st.tensor
                if last and (st.tensor in outputs or writes[st.tensor] == 1)
                else (self.fresh(f"{st.tensor}_v{seen[st.tensor]}"))
            )
            rhs = rename_reads(st.rhs, current)
            mask = None if st.mask is None else rename_reads(st.mask, current)
            decl = self.d.tensor(st.tensor)
            stmt = replace(st, tensor=name, rhs=rhs, mask=mask)
            self.versions.append(_Version(stmt, current.get(st.tensor), decl))
            self.decls[name] = replace(decl, name=name)
            current[st.tensor] = name

    def _active(self) -> set[str]:
        active = set(self.wrt)
        for v in self.versions:
            if is_float(v.decl.dtype) and (
                _value_reads(v.stmt.rhs) & active or (v.prev in active and v.stmt.mask is not None)
            ):
                active.add(v.stmt.tensor)
        return active

    def _is_active(self, e: Expr) -> bool:
        return bool(_value_reads(e) & self.active)

    # -- 2. the reverse sweep ----------------------------------------------------------------
    def run(self) -> None:
        outputs = {o.name for o in self.d.outputs}
        for name, cot in self.cot_inputs.items():
            self.cot[name] = cot
            self.written.add(cot)
        for v in reversed(self.versions):
            st = v.stmt
            if st.tensor not in self.active or st.tensor not in self.cot:
                continue
            root = Access(
                self.cot[st.tensor],
                tuple(index(i) for i in st.indices),
                self.decls[st.tensor].dtype,
            )
            ctx = Context(st.domain, tuple(conjuncts(st.mask)))
            # what `_own_value` needs: this statement's cotangent, context and value
            self.stmt = (root, ctx, Access(st.tensor, root.indices, root.dtype), st.rhs)
            self.top = None
            groups: dict[tuple, Expr] = {}
            if v.prev is not None and v.prev in self.active:
                if not covers(st.domain, v.decl.shape):
                    raise UnsupportedError(
                        f"{self.d.name}: cannot differentiate the update of {v.decl.name!r} "
                        "on part of its shape",
                        st.span,
                        hint="write the update over the whole tensor (use a ternary)",
                    )
                if st.mask is not None:
                    keep = select(st.mask, const(0, root.dtype), root)
                    add_to(groups, (v.prev, root.indices, Context(st.domain)), keep)
            self.backprop(st.rhs, root, ctx, groups)
            self._emit(groups)
        del outputs

    def backprop(self, e: Expr, g: Expr, ctx: Context, groups: dict) -> None:
        if not is_float(e.dtype) or not self._is_active(e):
            return
        if isinstance(e, Access):
            indices = tuple(self._index_values(i, ctx) for i in e.indices)
            add_to(groups, (e.tensor, indices, ctx), g)
        elif isinstance(e, Call):
            for arg, ga in zip(e.args, rule_for(e)(e, g)):
                if ga is not None and is_float(arg.dtype):
                    self.backprop(arg, cast(ga, arg.dtype), ctx, groups)
        elif isinstance(e, Reduce) and size_value_of(e) is None:
            rule = reduce_rules.get(e.op)
            if rule is None:
                raise UnsupportedError(f"{self.d.name}: cannot differentiate {e.op}(...)")
            rule(self, e, g, ctx, groups)

    def _index_values(self, e: Expr, ctx: Context) -> Expr:
        """An index computed by a reduction (`y(argmin(j: ...), d)`) reads it from a temp, so
        the transposed read's equality mask holds no reduction."""
        if isinstance(e, Reduce) and size_value_of(e) is None:
            return self.hoist(e, ctx, e.op)
        if isinstance(e, Call):
            return replace(e, args=tuple(self._index_values(a, ctx) for a in e.args))
        if isinstance(e, Access):
            return replace(e, indices=tuple(self._index_values(a, ctx) for a in e.indices))
        return e

    # helpers of the reduction rules
    def open(self, e: Reduce, ctx: Context) -> tuple[tuple[Range, ...], Expr, Context]:
        """The reduction's ranges under fresh names, its body so renamed, and the context
        inside it."""
        names = {r.index: self.fresh(r.index) for r in e.ranges}
        subst = {old: index(new) for old, new in names.items()}
        ranges = tuple(replace(r, index=names[r.index]) for r in e.ranges)
        mask = None if e.mask is None else substitute(e.mask, subst)
        return ranges, substitute(e.body, subst), ctx.enter(ranges, mask)

    def hoist(self, e: Reduce, ctx: Context, label: str) -> Access:
        """`e`'s value as a temp over its free indices (computed once in the backward)."""
        free = free_indices(e)
        ranges = tuple(r for r in ctx.ranges if r.index in free)
        key = (e, ranges)
        if key not in self.hoisted:
            name = self.fresh(label)
            idx = tuple(r.index for r in ranges)
            self.recompute.append(Statement(name, idx, ranges, e))
            self.temps[name] = TensorDecl(name, e.dtype, tuple(r.hi for r in ranges), "temp")
            self.hoisted[key] = Access(name, tuple(index(i) for i in idx), e.dtype)
            self.notes.append(
                f"recompute {e.op}({', '.join(r.index for r in e.ranges)}: ...) into {name}"
                f"({', '.join(idx)}): small, saves a pass per use"
            )
        return self.hoisted[key]

    def reduce_cotangent(self, e: Reduce, g: Expr, ctx: Context) -> tuple[Expr, Context]:
        """The cotangent of a nonlinear reduction's value as a tensor over its free indices,
        summed over the context's other indices first (so its body sees one cotangent per
        point, not one per outer point)."""
        free = free_indices(e)
        outer = [r for r in ctx.ranges if r.index not in free]
        if not outer:
            return g, ctx
        outer_names = {r.index for r in outer}
        inner = tuple(r for r in ctx.ranges if r.index in free)
        own = tuple(m for m in ctx.masks if not free_indices(m) & outer_names)
        rest = [m for m in ctx.masks if free_indices(m) & outer_names]
        name = self.fresh(f"d_{e.op}")
        idx = tuple(r.index for r in inner)
        rhs = self._own_value(g, ctx, inner) or sum_over(tuple(outer), g, conj(rest))
        self.adjoint.append(Statement(name, idx, inner, unmasked(rhs, conj(own))))
        self.temps[name] = TensorDecl(name, g.dtype, tuple(r.hi for r in inner), "temp")
        return Access(name, tuple(index(i) for i in idx), g.dtype), Context(inner, own)

    def _own_value(self, g: Expr, ctx: Context, inner: tuple[Range, ...]) -> Expr | None:
        """`sum(j: cot * body)` over the statement's own top-level sum is `cot * T`, its value:
        the softmax identity `d lse = -sum(e: d_o * o)` (FlashAttention's D_i), which reads the
        saved output instead of summing over j again. None when `g` is not of that form."""
        root, stmt_ctx, value, _ = self.stmt
        if self.top is None or ctx != self.top[1]:
            return None
        body = self.top[0]
        negative = False
        while isinstance(g, Call) and g.fn == "neg":
            negative, g = not negative, g.args[0]
        factors = product_factors(g)
        if root not in factors:
            return None
        factors.remove(root)
        want = product_factors(body)
        if len(factors) != len(want) or any(factors.count(f) != want.count(f) for f in want):
            return None
        names = {r.index for r in inner}
        outer = tuple(r for r in stmt_ctx.ranges if r.index not in names)
        if any(free_indices(m) - names for m in stmt_ctx.masks):
            return None  # a statement mask on the summed LHS indices: keep the plain sum
        total = mul(root, value)
        total = sum_over(outer, total, None) if outer else total
        self.notes.append(f"{value.tensor}: a softmax cotangent reads the saved value (D_i)")
        return neg(total) if negative else total

    # -- 3. gradient statements ----------------------------------------------------------------
    def _emit(self, groups: dict) -> None:
        """One statement per gradient tensor and shape of contribution: contributions of one
        forward statement over the same domain and mask are added into one right-hand side."""
        pending: dict[str, list[Transposed]] = {}
        for (tensor, indices, ctx), g in groups.items():
            if tensor not in self.active:
                continue
            target = self._cot_target(tensor)
            decl = self.decls[tensor]
            t = transpose(indices, g, ctx, decl.shape, self.fresh, self.invert)
            t = replace(t, rhs=cast(t.rhs, decl.dtype))
            same = pending.setdefault(target, [])
            for k, other in enumerate(same):
                merged = merge(other, t, self.fresh)
                if merged is not None:
                    same[k] = merged
                    break
            else:
                same.append(t)
        for target, ts in pending.items():
            dtype = self.temps[target].dtype if target in self.temps else ts[0].rhs.dtype
            shape = self._shape_of(target)
            if target not in self.written and not covers(ts[0].domain, shape):
                # the front end tracks which part of a tensor is written: a first write of part
                # of it would make later reads of the rest errors, so zero it all first
                idx = tuple(self.fresh("i") for _ in shape)
                self.adjoint.append(
                    Statement(target, idx, full_domain(idx, shape), const(0, dtype))
                )
                self.written.add(target)
            for t in ts:
                rhs = unmasked(t.rhs, t.mask)
                if target in self.written:
                    rhs = add(Access(target, tuple(index(i) for i in t.indices), dtype), rhs)
                self.written.add(target)
                self.adjoint.append(Statement(target, t.indices, t.domain, rhs))

    def _shape_of(self, target: str) -> tuple:
        if target in self.temps:
            return self.temps[target].shape
        return self.decls[next(x for x, g in self.grad_names.items() if g == target)].shape

    def _cot_target(self, tensor: str) -> str:
        if tensor in self.grad_names:
            return self.grad_names[tensor]
        if tensor not in self.cot:
            name = self.fresh(f"d_{tensor}")
            decl = self.decls[tensor]
            self.cot[tensor] = name
            self.temps[name] = replace(decl, name=name, role="temp")
        cot = self.cot[tensor]
        if cot in self.cot_inputs.values():  # an output read by a later statement: copy first
            name = self.fresh(f"{cot}_total")
            decl = self.decls[tensor]
            self.temps[name] = replace(decl, name=name, role="temp")
            idx = tuple(self.fresh("i") for _ in decl.shape)
            dom = full_domain(idx, decl.shape)
            self.adjoint.append(
                Statement(name, idx, dom, Access(cot, tuple(map(index, idx)), decl.dtype))
            )
            self.written.add(name)
            self.cot[tensor] = cot = name
        return cot

    # -- 4. the backward def -------------------------------------------------------------------
    def backward(self, name: str) -> Gradient:
        self.run()
        d = self.d
        body = self.recompute + [use_hoisted(st, self.hoisted) for st in self.adjoint]
        body = self._read_values(reuse_saved(body, self._saved_statements()))
        given = {t.name for t in d.inputs} | {o.name for o in d.outputs}
        needed = needed_forward([v.stmt for v in self.versions], body, given)
        forward = [v.stmt for v in self.versions if v.stmt.tensor in needed]
        for v in self.versions:
            if v.stmt.tensor in needed:
                self.temps[v.stmt.tensor] = replace(self.decls[v.stmt.tensor], role="temp")
        grads = []
        outs = []
        for x in self.wrt:
            gname = self.grad_names[x]
            decl = self.decls[x]
            if gname not in self.written:  # x does not reach an output
                idx = tuple(self.fresh("i") for _ in decl.shape)
                body.append(
                    Statement(gname, idx, full_domain(idx, decl.shape), const(0, decl.dtype))
                )
            outs.append(TensorDecl(gname, decl.dtype, decl.shape, "output"))
            grads.append((x, gname))
        dims: dict = {}  # an output's dimension expression -> a size name of the backward
        saved = tuple(
            replace(o, role="input", shape=input_dims(o.shape, dims, self.fresh)) for o in d.outputs
        )
        cots = tuple(
            replace(d.tensor(o), name=c, role="input",
                    shape=input_dims(d.tensor(o).shape, dims, self.fresh))
            for o, c in self.cot_inputs.items()
        )
        body = [self._unique(clip_ranges(st, dims)) for st in body]
        forward = [clip_ranges(st, dims) for st in forward]
        back = Def(
            name,
            (*d.inputs, *saved, *cots),
            tuple(outs),
            tuple(self.temps[t] for t in self._temp_order(forward + body)),
            tuple(forward + body),
            d.span,
        )
        return Gradient(
            d,
            back,
            self.wrt,
            tuple(o.name for o in d.outputs),
            tuple(self.cot_inputs.items()),
            tuple(grads),
            tuple(self.notes),
            self.values,
        )

    def _saved_statements(self) -> list[Statement]:
        """The statements whose values the backward receives as saved outputs: an output's
        only write, unmasked, over its whole shape, in its own dtype."""
        outputs = {o.name for o in self.d.outputs}
        return [
            v.stmt for v in self.versions
            if v.stmt.tensor in outputs and v.prev is None and v.stmt.mask is None
            and covers(v.stmt.domain, v.decl.shape) and v.stmt.rhs.dtype == v.decl.dtype
        ]  # fmt: skip

    def _read_values(self, body: list[Statement]) -> list[Statement]:
        """`body` reading the values the saving forward saved where it recomputed them."""
        body, copies = read_saved_copies(body, {st.tensor for st in self.recompute}, self.values)
        for tmp, value in copies.items():
            del self.temps[tmp]
            self.notes = [
                f"{value}: saved by the forward (no recompute)" if f" into {tmp}(" in n else n
                for n in self.notes
            ]
        return body

    def _unique(self, st: Statement) -> Statement:
        seen = set(st.indices)
        return replace(st, rhs=unique_binders(st.rhs, seen, self.fresh))

    def _temp_order(self, body: list[Statement]) -> list[str]:
        order = dict.fromkeys(st.tensor for st in body if st.tensor in self.temps)
        return list(order)


def differentiate(
    d: Def, wrt: tuple[str, ...] | None = None, invert: bool = True, values: tuple[str, ...] = ()
) -> Gradient:
    """The backward def of `d` with respect to `wrt` (default: every float input).
    `invert=False` transposes affine reads by equality masks instead of solved indices.
    `values`: outputs that only carry saved values to the backward (no cotangent; see
    `saving_forward`).

    Raises:
        ArgumentError: `wrt` names no input, or an integer/bool input (no gradient).
        UnsupportedError: a construct without a derivative.
    """
    floats = [t.name for t in d.inputs if is_float(t.dtype)]
    if wrt is None:
        wrt = tuple(floats)
    for x in wrt:
        names = [t.name for t in d.inputs]
        if x not in names:
            raise ArgumentError(
                f"{d.name}: cannot differentiate with respect to {x!r}: no such input",
                hint=f"inputs of {d.name}: {', '.join(names)}",
            )
        if x not in floats:
            raise ArgumentError(
                f"{d.name}: input {x!r} is {d.tensor(x).dtype}: integer and bool inputs "
                "(index tensors, sizes) have no gradient",
                hint=f"float inputs: {', '.join(floats) or 'none'}",
            )
    return _Reverse(d, tuple(wrt), invert, values).backward(f"{d.name}_grad")

