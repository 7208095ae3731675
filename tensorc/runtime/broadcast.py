"""Broadcast views as arguments: an input with stride 0 on a dimension longer than 1
(`np.broadcast_to`, torch's `expand`, the cotangent torch hands a backward for `out.sum()`) holds
one value along that dimension. The def is specialised to read the smaller array -- those
dimensions (and the view's dimensions of length 1) dropped from the input's declaration and from
every read of it -- instead of copying the view into a full contiguous buffer (64 MB for a 4096^2
Gram matrix's cotangent) and reading it back. A view broadcast along every dimension becomes a
scalar parameter. `Function._plan` makes the choice once per argument signature (`NarrowPlan`).

The arguments are checked against the def as written first (sizes, dtypes, bounds), so a wrong
broadcast shape is still an error. A size that only the dropped dimensions bound is passed as an
integer parameter (`s(i) = sum(j: a(i, j))` with `a` broadcast along j: `M`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from tensorc.ir.tensor_ir import Access, Def, Expr, Statement, TensorDecl, map_children
from tensorc.runtime import arrays


def broadcast_dims(x: Any) -> tuple[int, ...]:
    """The dimensions `x` (a numpy array or torch tensor) can be read without when it is a
    broadcast view (stride 0 along a dimension longer than 1): those, and its dimensions of
    length 1 (an in-bounds read indexes them at 0), so that `ones(()).expand(1, 8, N, E)` is a
    scalar, not a `(1,)` array; () for any other argument."""
    if arrays.is_torch(x):
        strides, shape = x.stride(), x.shape
    elif hasattr(x, "strides") and hasattr(x, "shape"):
        strides, shape = x.strides, x.shape
    else:
        return ()
    if 0 in shape or not any(s == 0 and n > 1 for s, n in zip(strides, shape)):
        return ()  # an empty array may have stride 0 anywhere: it holds nothing to repeat
    return tuple(i for i, (s, n) in enumerate(zip(strides, shape)) if s == 0 or n == 1)


def pattern(args: tuple) -> tuple[tuple[int, ...], ...] | None:
    """Per argument, its broadcast dimensions; None when no argument has any."""
    dims = tuple(broadcast_dims(a) for a in args)
    return dims if any(dims) else None


def specialise(d: Def, dims: tuple[tuple[int, ...], ...]) -> Def:
    """`d` reading the inputs without their broadcast `dims` (one tuple per input). A size that
    only those dimensions bound becomes an int64 scalar parameter, appended to the inputs
    (`shrink` passes its value; input dimensions are always sizes or literals)."""
    drop = {decl.name: set(ds) for decl, ds in zip(d.inputs, dims) if ds}
    inputs = tuple(
        replace(t, shape=tuple(s for i, s in enumerate(t.shape) if i not in drop[t.name]))
        if t.name in drop else t
        for t in d.inputs
    )

    def read(e: Expr) -> Expr:
        e = map_children(e, read)
        if isinstance(e, Access) and e.tensor in drop:
            keep = tuple(x for i, x in enumerate(e.indices) if i not in drop[e.tensor])
            return replace(e, indices=keep)
        return e

    def statement(st: Statement) -> Statement:
        return replace(st, rhs=read(st.rhs), mask=None if st.mask is None else read(st.mask))

    out = replace(d, inputs=inputs, body=tuple(map(statement, d.body)))
    lost = tuple(TensorDecl(s, "int64", (), "input") for s in d.sizes if s not in out.sizes)
    return replace(out, inputs=(*out.inputs, *lost))


def shrink(args: tuple, dims: tuple[tuple[int, ...], ...], sizes: tuple[int, ...]) -> tuple:
    """The arguments without their broadcast dimensions (views; a scalar for a view broadcast
    along every dimension), then the values of the sizes `specialise` made parameters."""
    out = []
    for a, ds in zip(args, dims):
        if ds:
            a = a[tuple(0 if i in ds else slice(None) for i in range(a.ndim))]
            if a.ndim == 0:
                a = a.item()
        out.append(a)
    return (*out, *sizes)


@dataclass(frozen=True, slots=True)
class NarrowPlan:
    """A signature's plan when some arguments are broadcast views: the specialised def's plan,
    run on the narrowed arguments (`module.Function._plan`)."""

    inner: Any  # the specialised def's Plan
    dims: tuple[tuple[int, ...], ...]
    sizes: tuple[int, ...]  # the values of the sizes the specialised def takes as parameters

    @property
    def backend(self) -> str:
        return self.inner.backend

    def __call__(self, args: tuple) -> Any:
        return self.inner(shrink(args, self.dims, self.sizes))

    def into(self, args: tuple, outs: tuple) -> Any:
        return self.inner.into(shrink(args, self.dims, self.sizes), outs)
