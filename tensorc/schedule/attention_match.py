"""Recognition of flash attention (the roles of a softmax-weighted sum of dot products) and of
a logsumexp sibling the flash kernel can write too; lowering is `attention.py`."""

from __future__ import annotations

from dataclasses import dataclass

import sympy

from tensorc.ir import tensor_ir as T
from tensorc.ir.tir_utils import (
    alpha_key,
    conjuncts,
    free_indices,
    index_sym,
    index_to_sympy,
    map_children,
    product_factors,
    substitute,
    walk,
)
from tensorc.ir.types import DTYPES, compute_dtype
from tensorc.schedule.nest import Nest
from tensorc.schedule.operands import plain_access, replace_node


@dataclass
class Attention:
    """The roles of one recognised statement's indices and operands."""

    reduce: T.Reduce
    i: str
    j: str
    d: str
    e: str
    batch: list[str]
    x: T.Access  # X(.., i, d)
    y: T.Access  # Y(.., j, d)
    v: T.Access  # V(.., j, e)
    score_scalars: list[T.Expr]
    value_scalars: list[T.Expr]
    mask: list[T.Expr]
    d_hi: sympy.Expr  # extent of d
    score_mod: T.Expr | None = None  # f(SCORE, indices) when the score is not alpha * dot


SCORE = "%score"  # the placeholder index that stands for the dot product in a score term


def _score_term(a: T.Expr, dot: T.Reduce, allowed: set[str], out: str) -> T.Expr | None:
    """`a` with `dot` replaced by the SCORE placeholder, if what remains is pointwise in the
    indices `allowed` (no reduction, no read of the output `out`), else None."""

    def sub(x: T.Expr) -> T.Expr:
        return T.Index(SCORE, dot.dtype) if x is dot else map_children(x, sub)

    mod = sub(a)
    if any(isinstance(x, T.Reduce) for x in walk(mod)):
        return None
    if any(isinstance(x, T.Access) and x.tensor == out for x in walk(mod)):
        return None
    return mod if free_indices(mod) - {SCORE} <= allowed else None


def _guarded(a: T.Expr, dot: T.Reduce) -> bool:
    """Whether `dot` sits in the taken branch of a select in `a` whose condition implies its
    mask (every conjunct of the mask is one of the condition's)."""
    need = conjuncts(dot.mask)
    for x in walk(a):
        if isinstance(x, T.Call) and x.fn == "select" and any(y is dot for y in walk(x.args[1])):
            have = conjuncts(x.args[0])
            if all(c in have for c in need):
                return True
    return False


def _is_scalar(f: T.Expr) -> bool:
    return isinstance(f, T.Const) or (isinstance(f, T.Access) and not f.indices)


def split_scalars(e: T.Expr) -> tuple[list[T.Expr], list[T.Expr]]:
    """(non-scalar factors, scalar factors) of a product."""
    fs = product_factors(e)
    return [f for f in fs if not _is_scalar(f)], [f for f in fs if _is_scalar(f)]


def index_names(a: T.Access) -> set[str]:
    return {i.name for i in a.indices}


def _zero(e) -> bool:
    return T.is_zero(e)


def affine_in(c: T.Expr, i: str) -> bool:
    """True if the index (in)equality `c` is affine in index `i` (also inside `abs`)."""
    a, b = (index_to_sympy(x) for x in c.args)
    if a is None or b is None:
        return False
    f, s = sympy.expand(a - b), index_sym(i)
    if f.has(sympy.floor, sympy.ceiling, sympy.Mod, sympy.Min, sympy.Max):
        return s not in f.free_symbols
    parts = [x.args[0] for x in f.atoms(sympy.Abs)] + [f.replace(sympy.Abs, lambda u: 0)]
    return all(p.is_polynomial(s) and sympy.degree(p, s) <= 1 for p in parts)


NOT_SOFTMAX = "not a softmax-weighted sum"


def match(def_: T.Def, st: T.Statement, nest: Nest) -> Attention | str:
    """The roles of `st` if it is a (masked) softmax(dot product)-weighted sum, else why not
    (NOT_SOFTMAX when it is no softmax-weighted sum at all)."""
    r = st.rhs
    if (
        st.mask is not None
        or not isinstance(r, T.Reduce)
        or len(set(st.indices)) != len(st.indices)
    ):
        return NOT_SOFTMAX
    parts = nest._online_softmax_parts(r)
    if parts is None:
        return NOT_SOFTMAX
    if any(not _zero(rg.lo) for rg in st.domain) or DTYPES[r.dtype].kind != "f":
        return "an output range does not start at 0, or the sum is not floating point"
    a, rest = parts
    j = r.ranges[0].index
    dots, score_scalars = split_scalars(a)
    mod = None
    if len(dots) != 1 or not isinstance(dots[0], T.Reduce):
        reduces = [x for x in walk(a) if isinstance(x, T.Reduce)]
        if len(reduces) != 1:
            return f"the score holds {len(reduces)} reductions, not one dot product"
        dots, score_scalars, mod = reduces, [], a  # a score term: f(dot, indices)
    dot = dots[0]
    if mod is not None and dot.mask is not None and _guarded(a, dot):
        # `c ? sum(d: ...)[mask c] : -1e30`: the front end masks a sum inside a guarded branch
        # (so that hoisting it reads nothing the guard excludes); the score tile's Gemm reads
        # whole rows of q and k, in bounds for every (i, j), and the select keeps the guard
        bare = T.Reduce(dot.op, dot.ranges, dot.body, None, dot.dtype)
        a, dot = replace_node(a, dot, bare), bare
    if (
        dot.op != "sum"
        or len(dot.ranges) != 1
        or dot.mask is not None
        or not _zero(dot.ranges[0].lo)
    ):
        return "the score's reduction is not one unmasked sum over a 0-based feature index"
    if compute_dtype(dot.dtype) != compute_dtype(r.dtype):
        return "the score and the weighted sum have different compute types"
    d = dot.ranges[0].index
    accs, inner_scalars = split_scalars(dot.body)
    vals, value_scalars = split_scalars(rest)
    if len(accs) != 2 or len(vals) != 1 or not all(isinstance(x, T.Access) for x in accs + vals):
        return "the score is not a dot product of two tensors weighting one value tensor"
    x, y = accs if j in index_names(accs[1]) else accs[::-1]
    v = vals[0]
    lhs = set(st.indices)
    if j in index_names(x) or j not in index_names(y) or j not in index_names(v):
        return f"{j} is not the key index of exactly the key and value tensors"
    i_c = [n for n in st.indices if n in index_names(x) and n not in index_names(y) | index_names(v)]
    e_c = [n for n in st.indices if n in index_names(v) and n not in index_names(x) | index_names(y)]
    if not i_c or not e_c:
        return "no query-row index or no value-column index of its own"
    i, e = i_c[-1], e_c[-1]  # the innermost; others (heads that K/V share) act as batch indices
    batch = [n for n in st.indices if n not in (i, e)]
    roles = ((x, {i, d}), (y, {j, d}), (v, {j, e}))
    for acc, need in roles:
        decl = def_.tensor(acc.tensor)
        if not plain_access(acc) or len(acc.indices) != len(decl.shape) or acc.tensor == st.tensor:
            return f"{acc.tensor} is not read with plain indices over its whole shape"
        if not need <= index_names(acc) or not index_names(acc) <= need | (lhs - {i, e}):
            return f"{acc.tensor}'s indices do not fit the roles (query, key, value)"
        if DTYPES[acc.dtype].kind != "f":
            return f"{acc.tensor} is not floating point"
    mask = conjuncts(r.mask)
    if any(not (isinstance(c, T.Call) and len(c.args) == 2 and affine_in(c, i)) for c in mask):
        return "the mask is not a conjunction of bounds on j linear in i"
    if mod is not None:
        mod = _score_term(a, dot, (lhs - {e}) | {j}, st.tensor)
        if mod is None:
            return (f"the score term reads {e}, a feature index or the output, or holds a "
                    f"reduction")  # fmt: skip
    scalars = score_scalars + inner_scalars
    return Attention(r, i, j, d, e, batch, x, y, v, scalars, value_scalars, mask,
                     dot.ranges[0].hi, mod)  # fmt: skip


def lse_sibling(pb, k: int, st: T.Statement, m: Attention) -> int | None:
    """The position of a later statement `L(batch.., i) = logsumexp(j: score)` over the scores
    and mask of the flash statement `st` (a gradient's saving forward stores it), if any."""
    lses = [x for x in walk(st.rhs) if isinstance(x, T.Reduce) and x.op == "logsumexp"]
    rows = [n for n in st.indices if n != m.e]
    for n, st2 in enumerate(pb.def_.body[k + 1 :], k + 1):
        r = st2.rhs
        decl = pb.def_.tensor(st2.tensor)
        if (n in pb.skip or st2.mask is not None or not isinstance(r, T.Reduce)
                or r.op != "logsumexp" or len(st2.indices) != len(rows)
                or DTYPES[decl.dtype].kind != "f"):  # fmt: skip
            continue
        to = {a: T.Index(b) for a, b in zip(st2.indices, rows)}
        key = alpha_key(substitute(r, to))
        dom = {g.index: g for g in st.domain}
        same_dom = all(
            g.lo == dom[b].lo and g.hi == dom[b].hi for g, b in zip(st2.domain, rows)
        )
        if same_dom and any(alpha_key(x) == key for x in lses):
            return n
    return None
