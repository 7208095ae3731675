"""Blocked flash attention (target "cpu"): online softmax-weighted sums of dot products.
Recognition (`match`, the roles) is `attention_match.py`; this file lowers.

Recognises, after temp inlining, a statement (the online-softmax pattern of
`nest.Nest._online_softmax_parts`, with a dot product as the score)

    O(batch.., i, e) = sum_j exp(a_ij - logsumexp_j'(a_ij')) * c * V(.., j, e)   [where mask]
    a_ij             = alpha * sum_d X(.., i, d) * Y(.., j, d)
                       or any pointwise f(sum_d X Y, batch.., i, j) without d or e: a score
                       term (ALiBi `- slope(h) * float32(i - j)`, a bias tensor, soft-capping
                       `c * tanh(s / c)`), applied to each score tile after its Gemm

whose mask is a conjunction of bounds on j linear in i (`j <= i`, `abs(i - j) <= W`), and lowers
it to one kernel of two `Gemm`s per (i-block, j-block) on per-thread scratch:

    parallel for t in [0, batches * ceil(N / BM)):      # (batch, i-block); i-blocks interleaved
      local O[BM, E] = 0, m[BM] = -inf, l[BM] = 0, S[BM, BN]
      serial for j0 in [jlo(block), jhi(block)) step BN:   # fully masked j-blocks never visited
        gemm S = alpha * X[i-block, :] @ Y[j-block, :]^T
        per row r: S[r, c] = f(S[r, c], i, j) inside the bounds (a score term only); the mask as column bounds [clo, chi) of this block; row max; p = exp(s - m')
                   (0 outside the bounds) into S; l = l * exp(m - m') + sum p; O[r] *= exp(m - m')
        gemm O += c * S @ V[j-block, :]
      o[.., i, e] = l == 0 ? 0 : O / l                    # a fully masked row is the empty sum

Interleaving the i-blocks (0, n-1, 1, n-2, ...) balances causal work across the contiguous
thread chunks of the parallel loop.
"""

from __future__ import annotations

from tensorc.ir import loop_ir as L
from tensorc.ir import tensor_ir as T
from tensorc.ir.tir_utils import (
    walk,
)
from tensorc.ir.types import compute_dtype
from tensorc.passes.normalize_softmax import NEG_MASK
from tensorc.schedule.attention_match import (
    NOT_SOFTMAX,
    SCORE,
    Attention,
    lse_sibling,
    match,
)
from tensorc.schedule.lexpr import (
    I64,
    as_dtype,
    bind,
    const,
    iadd,
    imax,
    imin,
    imul,
    isub,
    sym_to_lexpr,
)
from tensorc.schedule.nest import KernelNames, Nest
from tensorc.schedule.operands import scalar_alpha, strides


def lower_attention(pb, k: int, st: T.Statement) -> bool:
    """Emit the flash-attention kernel for `st` (see the module docstring); False if no match."""
    names = pb.names()
    nest = Nest(pb.def_, pb.schedule, names, pb.spec, [])
    m = match(pb.def_, st, nest)
    label = f"statement {k + 1} ({st.tensor})"
    miss = f"{label}: softmax-weighted sum not on the flash path (a streaming loop nest): "
    if isinstance(m, str):
        if m != NOT_SOFTMAX:
            pb.notes.append(miss + m)
        return False
    sib = lse_sibling(pb, k, st, m)
    builder = BlockBuilder(pb, st, m, nest, names)
    builder.lse = None if sib is None else pb.def_.body[sib]
    body = builder.kernel()
    if body is None:
        pb.notes.append(miss + "its mask gives no j bounds for a block of rows")
        return False
    bm, bn = pb.schedule.flash_blocks
    notes = [
        (
            f"{label}: softmax-weighted sum in one online pass, blocked as flash attention "
            f"(BM={bm}, BN={bn}): S = Q K^T and O += P V are Gemms on per-thread tiles"
        )
    ]
    if m.mask:
        notes.append(f"{label}: index mask turned into j-block bounds and per-row column bounds")
    if sib is not None:
        pb.skip.add(sib)
        notes.append(f"statement {sib + 1} ({builder.lse.tensor}): the logsumexp of the same "
                     f"scores, written by this pass from its running max and sum (m + log l)")
    if m.score_mod is not None:
        notes.append(f"{label}: score term applied to each score tile after its Gemm, in the "
                     f"online pass")  # fmt: skip
        if any(isinstance(x, T.Const) and not isinstance(x.value, bool) and x.value <= NEG_MASK
               for x in walk(m.score_mod)):  # fmt: skip
            notes.append(f"{label}: a -1e30 ternary mask is not a domain mask (some row would "
                         f"keep no j): its blocks are not skipped")  # fmt: skip
    pb.kernel(body, notes)
    return True


class BlockBuilder:
    lse: T.Statement | None = None  # a logsumexp sibling the kernel also writes (_lse_sibling)

    def __init__(self, pb, st: T.Statement, m: Attention, nest: Nest, names: KernelNames):
        self.pb, self.st, self.m, self.nest, self.fresh = pb, st, m, nest, names
        self.spec = pb.spec
        self.t = compute_dtype(m.reduce.dtype)
        self.bm, self.bn = pb.schedule.flash_blocks

    # --- helpers -------------------------------------------------------------------------------
    def let(self, out: list, base: str, value: L.LExpr) -> L.LExpr:
        return bind(out, self.fresh, base, value)

    def ext(self, index: str) -> L.LExpr:
        rg = next(r for r in self.st.domain if r.index == index)
        return sym_to_lexpr(rg.hi, self.spec)

    def operand(self, acc: T.Access, row: str, col: str, at: dict[str, L.LExpr]) -> L.Operand:
        """`acc` as a (row, col) matrix starting at the index values `at` (others at 0)."""
        idx = [x.name for x in acc.indices]
        steps = strides(self.pb.def_.tensor(acc.tensor).shape)
        st = {n: sym_to_lexpr(s, self.spec) for n, s in zip(idx, steps)}
        off = const(0)
        for n in idx:
            if n in at:
                off = iadd(off, imul(at[n], st[n]))
        return L.Operand(acc.tensor, off, (const(0), st[row], st[col]))

    def bounds(self, at: L.LExpr) -> tuple[list[L.LExpr], list[L.LExpr]] | None:
        """Lower / upper (exclusive) bounds of j, one per mask inequality, with i = `at`."""
        self.nest.env[self.m.i] = (at, None)
        allowed = set(self.m.batch) | {self.m.i}
        los, his, rest = self.nest.linear_bounds(self.m.j, self.m.mask, allowed)
        return None if rest else (los, his)

    # --- the kernel ----------------------------------------------------------------------------
    def kernel(self) -> tuple[L.Stmt, ...] | None:
        m, t, bm, bn = self.m, self.t, self.bm, self.bn
        fresh = self.fresh
        body: list[L.Stmt] = []
        blk = self.blocks(body)
        if blk is None:
            return None
        tv, total, bvars, i0, rows, j_lo, j_hi, blo, bhi = blk
        e_ext = self.ext(m.e)
        O, S, mx, ls = fresh("O"), fresh("S"), fresh("m"), fresh("l")
        ninf, zero = L.Const(float("-inf"), t), L.Const(0.0, t)
        body += [
            L.Local(O, t, (const(bm), e_ext), zero),
            L.Local(mx, t, (const(bm),), ninf),
            L.Local(ls, t, (const(bm),), zero),
            L.Local(S, t, (const(bm), const(bn)), zero),
        ]
        j0 = fresh("j0")
        blk: list[L.Stmt] = []
        cols = self.let(blk, "bn", isub(imin(iadd(L.Var(j0), const(bn)), bhi), L.Var(j0)))
        at_i = {**bvars, m.i: i0}
        at_j = {**bvars, m.j: L.Var(j0)}
        s_op = L.Operand(S, const(0), (const(0), const(bn), const(1)), local=True)
        o_op = L.Operand(O, const(0), (const(0), e_ext, const(1)), local=True)
        d_ext = sym_to_lexpr(m.d_hi, self.spec)
        blk.append(L.Gemm(
            c=s_op, a=self.operand(m.x, m.i, m.d, at_i), b=self.operand(m.y, m.d, m.j, at_j),
            batch=const(1), m=rows, n=cols, k=d_ext, alpha=scalar_alpha(m.score_scalars, t),
            accumulate=False, dtype=t,
        ))  # fmt: skip
        row = self.row_update(L.Var(j0), cols, i0, j_lo, j_hi, S, O, mx, ls, e_ext)
        if row is None:
            return None
        blk.append(L.Loop(row[0], const(0), rows, tuple(row[1]), kind="vector"))
        blk.append(L.Gemm(
            c=o_op, a=s_op, b=self.operand(m.v, m.j, m.e, at_j), batch=const(1), m=rows,
            n=e_ext, k=cols, alpha=scalar_alpha(m.value_scalars, t), accumulate=True, dtype=t,
        ))  # fmt: skip
        body.append(L.Loop(j0, blo, bhi, tuple(blk), kind="serial", step=bn))
        body.append(self.write_back(i0, rows, O, ls, bvars, e_ext, mx))
        return (L.Loop(tv, const(0), total, tuple(body), kind="parallel"),)

    def blocks(self, body: list, inner: list | None = None):
        """The shared prologue of a blocked kernel: which (batch, i-block) the parallel iteration
        `tv` is (i-blocks interleaved), and the j range its rows need; appended to `body`.
        (tv, total, batch vars, i0, rows, j_lo, j_hi, block j lo, block j hi), or None when the
        mask gives no j bounds. With `inner`, `tv` is the batch alone and the i-blocks run in
        order in a serial loop (`self.serial_rows`: its var and trip count) whose prologue goes
        to `inner`: one iteration owns a batch's rows and columns (tile_kernel's dq fusion)."""
        m, bm = self.m, self.bm
        fresh = self.fresh
        n_i = self.ext(m.i)
        n_blocks = L.Call("floordiv", (iadd(n_i, const(bm - 1)), const(bm)), I64)
        total = n_blocks if inner is None else const(1)
        for b in m.batch:
            total = imul(total, self.ext(b))
        tv = fresh("t")
        # --- which (batch, i-block) this iteration is
        q, rem = L.Var(tv), L.Var(tv)
        if inner is not None:
            self.serial_rows = (fresh("q"), n_blocks)
            q = L.Var(self.serial_rows[0])
        elif m.batch:
            q = self.let(body, "q", L.Call("mod", (L.Var(tv), n_blocks), I64))
            rem = self.let(body, "tb", L.Call("floordiv", (L.Var(tv), n_blocks), I64))
        bvars: dict[str, L.LExpr] = {}
        for n, b in reversed(list(enumerate(m.batch))):
            if n == 0:
                bvars[b] = self.let(body, b, rem)
            else:
                bvars[b] = self.let(body, b, L.Call("mod", (rem, self.ext(b)), I64))
                rem = self.let(body, "tb", L.Call("floordiv", (rem, self.ext(b)), I64))
        for b, var in bvars.items():
            self.nest.env[b] = (var, None)
        body = body if inner is None else inner
        half = self.let(body, "half", L.Call("floordiv", (q, const(2)), I64))
        even = L.Call("eq", (L.Call("mod", (q, const(2)), I64), const(0)), "bool")
        ib = self.let(
            body, "ib", L.Call("select", (even, half, isub(isub(n_blocks, const(1)), half)), I64)
        )
        i0 = self.let(body, "i0", imul(ib, const(bm)))
        i1 = self.let(body, "i1", imin(iadd(i0, const(bm)), n_i))
        rows = self.let(body, "bm", isub(i1, i0))
        # --- the j range of the block: per mask inequality, the loosest of its two ends
        rg = m.reduce.ranges[0]
        j_lo, j_hi = sym_to_lexpr(rg.lo, self.spec), sym_to_lexpr(rg.hi, self.spec)
        first, last = self.bounds(i0), self.bounds(isub(i1, const(1)))
        if first is None or last is None:
            return None
        blo, bhi = j_lo, j_hi
        for a, b in zip(first[0], last[0]):
            blo = imax(blo, imin(a, b))
        for a, b in zip(first[1], last[1]):
            bhi = imin(bhi, imax(a, b))
        blo = self.let(body, "jlo", blo)
        bhi = self.let(body, "jhi", bhi)
        return tv, total, bvars, i0, rows, j_lo, j_hi, blo, bhi

    def columns(self, out: list, i: L.LExpr, j0, cols, j_lo, j_hi) -> tuple[L.LExpr, L.LExpr] | None:
        """[clo, chi): the columns of the j-block at `j0` (`cols` wide) that row `i` keeps under
        the mask, bound in `out`; None when the mask gives no j bounds."""
        got = self.bounds(i)
        if got is None:
            return None
        lo, hi = j_lo, j_hi
        for b in got[0]:
            lo = imax(lo, b)
        for b in got[1]:
            hi = imin(hi, b)
        clo = self.let(out, "clo", imin(imax(isub(lo, j0), const(0)), cols))
        chi = self.let(out, "chi", imax(imin(isub(hi, j0), cols), const(0)))
        return clo, chi

    def row_update(self, j0, cols, i0, j_lo, j_hi, S, O, mx, ls, e_ext):
        """(row var, body): mask bounds, row max, p = exp(s - m') into S, l and O rescaled."""
        t, fresh = self.t, self.fresh
        r = fresh("r")
        R = L.Var(r)
        out: list[L.Stmt] = []
        i = self.let(out, self.m.i, iadd(i0, R))
        got = self.columns(out, i, j0, cols, j_lo, j_hi)
        if got is None:
            return None
        clo, chi = got
        c = fresh("c")
        C = L.Var(c)
        s_rc = L.LocalRead(S, (R, C), t)
        ninf, zero = L.Const(float("-inf"), t), L.Const(0.0, t)
        bmax, bsum = fresh("bmax"), fresh("bsum")
        p = fresh("p")
        row_max: list[L.Stmt] = []
        if self.m.score_mod is not None:  # S[r, c] = f(S[r, c], i, j), in the row-max sweep
            self.nest.env[self.m.j] = (iadd(j0, C), None)
            self.nest.env[SCORE] = (s_rc, None)
            val = self.nest.emit(self.m.score_mod, None, ())
            row_max.append(L.Assign(S, (R, C), as_dtype(val, t)))
        row_max.append(L.Assign(bmax, (), L.Call("max", (L.LocalRead(bmax, (), t), s_rc), t)))
        out += [L.Local(bmax, t, (), ninf), L.Loop(c, clo, chi, tuple(row_max), kind="reduce")]
        mn, safe, alpha = self.running_max(out, L.LocalRead(mx, (R,), t), L.LocalRead(bmax, (), t))
        P = L.Var(p, t)
        out += [
            L.Local(bsum, t, (), zero),
            L.Loop(c, const(0), clo, (L.Assign(S, (R, C), zero),), kind="vector"),
            L.Loop(c, clo, chi, (
                L.Let(p, L.Call("exp", (L.Call("sub", (s_rc, safe), t),), t)),
                L.Assign(S, (R, C), P),
                L.Assign(bsum, (), L.Call("add", (L.LocalRead(bsum, (), t), P), t)),
            ), kind="reduce"),
            L.Loop(c, chi, cols, (L.Assign(S, (R, C), zero),), kind="vector"),
            L.Assign(ls, (R,), L.Call("add", (L.Call("mul", (L.LocalRead(ls, (R,), t), alpha), t),
                                             L.LocalRead(bsum, (), t)), t)),
            L.Assign(mx, (R,), mn),
        ]  # fmt: skip
        e = fresh(self.m.e)
        o_re = L.LocalRead(O, (R, L.Var(e)), t)
        out.append(
            L.Loop(
                e,
                const(0),
                e_ext,
                (L.Assign(O, (R, L.Var(e)), L.Call("mul", (o_re, alpha), t)),),
                kind="vector",
            )
        )
        return r, out

    def running_max(self, out: list, old: L.LExpr, bmax: L.LExpr) -> tuple[L.Var, L.Var, L.Var]:
        """Bind in `out` the online-softmax update of a row's running max `old` by a block's max
        `bmax`: (new max, safe max (0 when both are -inf), exp(old - safe) to rescale sums)."""
        t, fresh = self.t, self.fresh
        names = [fresh(x) for x in ("mold", "mn", "safe", "alpha")]
        mold, mn, safe, alpha = (L.Var(n, t) for n in names)
        ninf, zero = L.Const(float("-inf"), t), L.Const(0.0, t)
        out += [
            L.Let(names[0], old),
            L.Let(names[1], L.Call("max", (mold, bmax), t)),
            L.Let(names[2], L.Call("select", (L.Call("eq", (mn, ninf), "bool"), zero, mn), t)),
            L.Let(names[3], L.Call("exp", (L.Call("sub", (mold, safe), t),), t)),
        ]
        return mn, safe, alpha

    def write_back(self, i0, rows, O, ls, bvars, e_ext, mx=None) -> L.Stmt:
        t, fresh, m = self.t, self.fresh, self.m
        r, e = fresh("r"), fresh(m.e)
        R, E = L.Var(r), L.Var(e)
        lname = fresh("lr")
        lv = L.Var(lname, t)
        val = L.Call("select", (L.Call("eq", (lv, L.Const(0.0, t)), "bool"), L.Const(0.0, t),
                                L.Call("div", (L.LocalRead(O, (R, E), t), lv), t)), t)  # fmt: skip
        dtype = self.pb.def_.tensor(self.st.tensor).dtype
        if dtype != t:
            val = L.Call("cast", (val,), dtype)
        at = {**bvars, m.i: iadd(i0, R), m.e: E}
        store = L.Store(self.st.tensor, tuple(at[n] for n in self.st.indices), val)
        inner = L.Loop(e, const(0), e_ext, (store,), kind="vector")
        row: list[L.Stmt] = [L.Let(lname, L.LocalRead(ls, (R,), t)), inner]
        if self.lse is not None:  # logsumexp = m + log(l); -inf for a row that keeps no j
            lse = L.Call("add", (L.LocalRead(mx, (R,), t), L.Call("log", (lv,), t)), t)
            val = L.Call("select", (L.Call("eq", (lv, L.Const(0.0, t)), "bool"),
                                    L.Const(float("-inf"), t), lse), t)  # fmt: skip
            dtype = self.pb.def_.tensor(self.lse.tensor).dtype
            val = val if dtype == t else L.Call("cast", (val,), dtype)
            at = {**bvars, m.i: iadd(i0, R)}
            idx = [n for n in self.st.indices if n != m.e]
            row.append(L.Store(self.lse.tensor, tuple(at[n] for n in idx), val))
        return L.Loop(r, const(0), rows, tuple(row), kind="vector")
