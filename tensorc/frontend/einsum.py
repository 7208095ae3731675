"""einsum strings -> TensorIR, with numpy.einsum's exact semantics.

`einsum_def("ij,jk->ik", [(3, 4), (4, 5)], ["float32", "float32"])` builds the TensorIR `Def`
`einsum(op0, op1) -> (out)` whose one statement is `out(i,k) = sum(j: op0(i,j) * op1(j,k))`.

numpy's rules, all reproduced: implicit output (labels that appear once, ASCII-sorted, after the
broadcast `...` dims), explicit `->`, `...` broadcasting (right-aligned, size-1 dims broadcast, also
for named labels across operands), repeated labels in one operand (diagonals, traces), whitespace
ignored, result dtype = numpy promotion of the operand dtypes (operands are cast to it first).

numpy's interleaved form `einsum(op0, [0, 1], op1, [1, 2], [0, 2])` is read by `parse_sublists`:
integer labels below 52 become the letters numpy gives them ('A'-'Z' for 0-25, 'a'-'z' for 26-51,
so they sort numerically), larger ones index names `idx52`, ... : there is no limit on the number
of distinct indices.

Shapes in the `Def` are symbolic: label `i` has size symbol `n_i`, the k-th broadcast dim `n_ell{k}`.
A dim of size 1 that broadcasts against a larger one is the literal 1, read at index 0.
"""

from __future__ import annotations

import numpy as np
import sympy

from tensorc.errors import ArgumentTypeError, ShapeError, SyntaxError_
from tensorc.ir.tensor_ir import (
    Access,
    Call,
    Const,
    Def,
    Expr,
    Index,
    Range,
    Reduce,
    Statement,
    TensorDecl,
    size_symbol,
)
from tensorc.ir.types import ALIASES, from_numpy, promote

__all__ = ["Parsed", "einsum_def", "einsum_labels", "parse_sublists", "parse_subscripts"]

_ELLIPSIS = "..."
_BIG = "idx"  # prefix of integer labels >= 52 (sublist form)

Term = tuple[list[str], "int | None"]  # labels, position of the '...' (None: no '...')
Parsed = tuple[list[Term], "Term | None"]  # per-operand terms, the explicit output (None: implicit)


def _ell(k: int) -> str:
    return f"ell{k}"


def _size_name(label: str) -> str:
    return f"n_{label}"


def _dtype_name(d) -> str:
    if isinstance(d, str) and d in ALIASES:
        return ALIASES[d]
    try:
        return from_numpy(np.dtype(d))
    except (KeyError, TypeError) as err:
        raise SyntaxError_(f"einsum: unknown dtype {d!r}") from err


def _parse_term(term: str, what: str) -> tuple[list[str], int | None]:
    """Labels of one term and the position of its `...` (None without one)."""
    labels: list[str] = []
    ell = None
    rest = term
    while rest:
        if rest.startswith(_ELLIPSIS):
            if ell is not None:
                raise SyntaxError_(f"einsum: {what} '{term}' has more than one '...'")
            ell = len(labels)
            rest = rest[3:]
            continue
        ch = rest[0]
        if not (ch.isascii() and ch.isalpha()):
            bad = "'.' outside an ellipsis" if ch == "." else f"character {ch!r}"
            raise SyntaxError_(
                f"einsum: invalid {bad} in {what} '{term}'",
                hint="subscripts are letters a-z, A-Z, ',' between operands, '...' and '->'",
            )
        labels.append(ch)
        rest = rest[1:]
    return labels, ell


def parse_subscripts(
    subscripts: str, nops: int
) -> tuple[list[tuple[list[str], int | None]], tuple[list[str], int | None] | None]:
    """Split `subscripts` into per-operand terms and the explicit output (None: implicit)."""
    s = "".join(subscripts.split())
    if s.count("->") > 1:
        raise SyntaxError_(f"einsum: subscripts '{subscripts}' contain '->' more than once")
    lhs, arrow, rhs = s.partition("->")
    if ("-" in lhs or ">" in lhs) or ("-" in rhs or ">" in rhs):
        raise SyntaxError_(f"einsum: stray '-' or '>' in subscripts '{subscripts}'")
    terms = lhs.split(",")
    if len(terms) != nops:
        raise ShapeError(
            f"einsum: subscripts '{subscripts}' name {len(terms)} operand(s), but {nops} were given"
        )
    parsed = [_parse_term(t, f"subscript of operand {n}") for n, t in enumerate(terms)]
    out = _parse_term(rhs, "output subscript") if arrow else None
    return parsed, out


def _sublist_term(sub, what: str) -> Term:
    labels: list[str] = []
    ell = None
    for x in sub:
        if x is Ellipsis:
            if ell is not None:
                raise SyntaxError_(f"einsum: {what} has more than one Ellipsis")
            ell = len(labels)
            continue
        if isinstance(x, bool) or not isinstance(x, (int, np.integer)):
            raise ArgumentTypeError(
                f"einsum: {what}: each label must be an int or Ellipsis, got {type(x).__name__} "
                f"{x!r}"
            )
        if x < 0:
            raise SyntaxError_(f"einsum: {what}: label {int(x)} is negative")
        n = int(x)
        labels.append(
            chr(ord("A") + n) if n < 26 else chr(ord("a") + n - 26) if n < 52 else f"{_BIG}{n}"
        )
    return labels, ell


def parse_sublists(args: tuple) -> tuple[list, Parsed]:
    """numpy's interleaved form `(op0, sublist0, op1, sublist1, ..., [output sublist])`: the
    operands and their parsed terms. Labels are ints (any number of them) and Ellipsis.

    Example:
        >>> ops, (terms, out) = parse_sublists((a, [0, 1], b, [1, 2], [0, 2]))
        >>> terms, out
        ([(['A', 'B'], None), (['B', 'C'], None)], (['A', 'C'], None))
    """
    ops, terms = list(args[0::2]), []
    for n, sub in enumerate(args[1::2]):
        if isinstance(sub, (str, bytes)) or not hasattr(sub, "__iter__"):
            raise ArgumentTypeError(
                f"einsum: operand {n}'s subscripts must be a list of ints, "
                f"got {type(sub).__name__}",
                hint="interleaved form: einsum(a, [0, 1], b, [1, 2], [0, 2])",
            )
        terms.append(_sublist_term(sub, f"sublist of operand {n}"))
    out = None
    if len(args) % 2:
        out = _sublist_term(ops.pop(), "output sublist")
    return ops, (terms, out)


def einsum_labels(subscripts: str | Parsed, shapes: list[tuple[int, ...]]):
    """Per-operand labels with each '...' expanded (broadcast dims are `ell0`, `ell1`, ...), the
    output labels, and every label's size: what a contraction planner needs.

    Example:
        >>> einsum_labels("ij,jk", [(2, 3), (3, 4)])
        ([['i', 'j'], ['j', 'k']], ['i', 'k'], {'i': 2, 'j': 3, 'k': 4})
    """
    if len(shapes) == 0:
        raise ShapeError("einsum: at least one operand is required")
    shapes = [tuple(int(d) for d in sh) for sh in shapes]
    if isinstance(subscripts, str):
        terms, out_term = parse_subscripts(subscripts, len(shapes))
    else:
        terms, out_term = subscripts
        if len(terms) != len(shapes):
            raise ShapeError(f"einsum: {len(terms)} sublist(s) for {len(shapes)} operand(s)")

    # expand each operand's '...' into broadcast labels, right-aligned across operands
    ell_ndims = []
    for n, ((labels, ell), shape) in enumerate(zip(terms, shapes)):
        extra = len(shape) - len(labels)
        term = _term_text(labels, ell)
        if ell is None and extra != 0 or extra < 0:
            raise ShapeError(
                f"einsum: operand {n} has {len(shape)} dimension(s), but its subscript '{term}' "
                f"names {len(labels)}" + ("" if ell is None else " (and '...')")
            )
        ell_ndims.append(extra)
    n_ell = max(ell_ndims)
    full: list[list[str]] = []
    for (labels, ell), extra in zip(terms, ell_ndims):
        if ell is None:
            full.append(list(labels))
        else:
            mid = [_ell(k) for k in range(n_ell - extra, n_ell)]
            full.append(labels[:ell] + mid + labels[ell:])
    sizes = _label_sizes(full, shapes, terms)
    return full, _output_labels(terms, out_term, full, n_ell), sizes


def einsum_def(
    subscripts: str | Parsed,
    shapes: list[tuple[int, ...]],
    dtypes: list[str],
    dtype: str | None = None,
) -> Def:
    """The TensorIR `Def` "einsum"(op0, op1, ...) -> (out) computing numpy.einsum(subscripts, ...).

    Args:
        subscripts: numpy einsum subscripts, e.g. "ij,jk->ik", "...ii->...i", "i,i", or the
            parsed sublist form (`parse_sublists`).
        shapes: the operands' shapes (ints).
        dtypes: the operands' dtypes (IR names, aliases or numpy dtypes).
        dtype: compute and result dtype (numpy's `dtype=`); None: numpy promotion of `dtypes`.

    Raises:
        SyntaxError_: malformed subscripts, an output label repeated or never in an input.
        ShapeError: operand count or rank mismatch, label sizes that do not broadcast.

    Example:
        >>> d = einsum_def("ij,jk", [(2, 3), (3, 4)], ["float32", "float32"])
        >>> d.outputs[0].shape
        (n_i, n_k)
    """
    if len(dtypes) != len(shapes):
        raise ShapeError(f"einsum: {len(shapes)} shapes but {len(dtypes)} dtypes")
    full, out_labels, sizes = einsum_labels(subscripts, shapes)
    shapes = [tuple(int(d) for d in sh) for sh in shapes]
    dts = [_dtype_name(d) for d in dtypes]
    out_dtype = dts[0]
    for d in dts[1:]:
        out_dtype = promote(out_dtype, d)
    if dtype is not None:
        out_dtype = _dtype_name(dtype)

    # out(...) = sum(contracted: prod_n cast(op_n(...)))
    inputs, factors = [], []
    for n, (labels, shape, dt) in enumerate(zip(full, shapes, dts)):
        dims, idx = [], []
        for lab, d in zip(labels, shape):
            if d == sizes[lab]:
                dims.append(size_symbol(_size_name(lab)))
                idx.append(Index(lab))
            else:  # a size-1 dim broadcast against a larger one
                dims.append(sympy.Integer(1))
                idx.append(Const(0, "int64"))
        inputs.append(TensorDecl(f"op{n}", dt, tuple(dims), "input"))
        acc: Expr = Access(f"op{n}", tuple(idx), dt)
        factors.append(acc if dt == out_dtype else Call("cast", (acc,), out_dtype))
    rhs = factors[0]
    for f in factors[1:]:
        rhs = Call("mul", (rhs, f), out_dtype)
    seen: dict[str, None] = {}
    for labels in full:
        for lab in labels:
            seen.setdefault(lab, None)
    summed = [lab for lab in seen if lab not in out_labels]
    if summed:
        ranges = tuple(Range(lab, sympy.Integer(0), size_symbol(_size_name(lab))) for lab in summed)
        rhs = Reduce("sum", ranges, rhs, None, out_dtype)
    out_shape = tuple(size_symbol(_size_name(lab)) for lab in out_labels)
    domain = tuple(Range(lab, sympy.Integer(0), d) for lab, d in zip(out_labels, out_shape))
    output = TensorDecl("out", out_dtype, out_shape, "output")
    body = Statement("out", tuple(out_labels), domain, rhs)
    return Def("einsum", tuple(inputs), (output,), (), (body,))


def _term_text(labels: list[str], ell: int | None) -> str:
    if ell is None:
        return "".join(labels)
    return "".join(labels[:ell]) + _ELLIPSIS + "".join(labels[ell:])


def _show(label: str) -> str:
    return "'...'" if label.startswith("ell") else f"'{label}'"


def _label_order(label: str) -> tuple[int, int | str]:
    """numpy's implicit output order: letters in ASCII order, then integer labels >= 52."""
    return (0, label) if len(label) == 1 else (1, int(label.removeprefix(_BIG)))


def _label_sizes(full: list[list[str]], shapes: list[tuple[int, ...]], terms) -> dict[str, int]:
    """Size of every label: the one non-1 size it has (numpy broadcasting), else 1."""
    sizes: dict[str, int] = {}
    where: dict[str, int] = {}
    for n, (labels, shape) in enumerate(zip(full, shapes)):
        term = _term_text(*terms[n])
        mine: dict[str, int] = {}
        for lab, d in zip(labels, shape):
            if lab in mine and mine[lab] != d:
                raise ShapeError(
                    f"einsum: operand {n} ('{term}') repeats label {_show(lab)} on dimensions of "
                    f"sizes {mine[lab]} and {d}; a diagonal needs equal sizes"
                )
            mine[lab] = d
            if d == 1:
                sizes.setdefault(lab, 1)
                continue
            if sizes.get(lab, 1) not in (1, d):
                raise ShapeError(
                    f"einsum: operand {n} ('{term}') gives label {_show(lab)} size {d}, but "
                    f"operand {where[lab]} gives it size {sizes[lab]}",
                    hint="sizes of one label must match or be 1 (broadcast)",
                )
            if sizes.get(lab, 1) == 1:
                sizes[lab] = d
                where[lab] = n
    return sizes


def _output_labels(terms, out_term, full: list[list[str]], n_ell: int) -> list[str]:
    ells = [_ell(k) for k in range(n_ell)]
    if out_term is None:  # implicit: broadcast dims, then labels used exactly once, sorted
        counts: dict[str, int] = {}
        for labels, _ in terms:
            for lab in labels:
                counts[lab] = counts.get(lab, 0) + 1
        return ells + sorted((lab for lab, c in counts.items() if c == 1), key=_label_order)
    labels, ell = out_term
    known = {lab for t, _ in terms for lab in t}
    for k, lab in enumerate(labels):
        if lab in labels[:k]:
            raise SyntaxError_(f"einsum: output subscript '{lab}' appears more than once")
        if lab not in known:
            raise SyntaxError_(f"einsum: output subscript '{lab}' appears in no input operand")
    if ell is None:
        if n_ell:
            raise ShapeError(
                "einsum: the operands have broadcast ('...') dimensions but the output "
                f"'{_term_text(labels, ell)}' has no '...'",
                hint="add '...' to the output subscript",
            )
        return list(labels)
    return labels[:ell] + ells + labels[ell:]
