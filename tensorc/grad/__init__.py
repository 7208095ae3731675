"""Gradients of tensorc defs, derived as tensorc equations (reverse mode over TensorIR).

    >>> from tensorc.grad import gradient
    >>> g = gradient(mod.gauss_ksum.def_, wrt=("x",))
    >>> print(print_def(g.backward))        # the backward equations (`tensorc grad FILE`)

Data path: forward `Def` -> `reverse.differentiate` (SSA versions, reverse sweep, derivative
rule tables, transposed reads) -> printed and parsed again (the equations shown are the ones
compiled) -> a `Def` like any other: passes, schedules, backends, kernel cache.

Files: `derivatives.py` (pointwise rules), `reverse.py` (statements, reductions, saved values),
`saving.py` (the saving forward),
`transpose.py` (the index structure of a read's adjoint), `affine.py` (index algebra),
`build.py` (typed smart constructors), `api.py` (`tensorc.grad`). torch autograd and
torch.compile live in `tensorc/runtime/autograd.py`.

Saved values: the forward outputs. Forward temporaries are recomputed in the backward (the
pipeline fuses or stores them by cost); the softmax cotangent `-sum(e: d_o * o)` reads the saved
output (FlashAttention's D_i). The value of a nonlinear reduction (a logsumexp, an argkmin) is
recomputed into a small temp by `gradient(d)`; with `save_values=True` (what torch autograd and
`tensorc.grad` run) the forward is `saving_forward(d)`, which outputs those values too -- flash
attention writes its rows' logsumexp from its running max and sum -- and the backward reads them.
Known limits: a read whose solved (gather) form the front end cannot prove in bounds, as in a
convolution's input gradient, is transposed with equality masks (exact, quadratic in the
spatial extent); double backward is an error.
"""

from __future__ import annotations

from dataclasses import replace

from tensorc.errors import ShapeError
from tensorc.grad.reverse import Gradient, differentiate
from tensorc.grad.saving import saving_forward

__all__ = ["Gradient", "differentiate", "gradient", "saving_forward"]


def gradient(def_, wrt=None, save_values: bool = False) -> Gradient:
    """`differentiate`, with the backward def printed and parsed again (canonical form).
    `save_values`: differentiate `saving_forward(def_)` instead, whose extra outputs (its
    `values`, saved, no cotangent) the backward reads where it would recompute them;
    `Gradient.forward` is then that def, the one to run forward."""
    wrt = None if wrt is None else tuple(wrt)
    values: tuple[str, ...] = ()
    if save_values:
        def_, values = saving_forward(def_)
        def_ = _reparse(def_) if values else def_
    g = differentiate(def_, wrt, values=values)
    try:
        return replace(g, backward=_reparse(g.backward))
    except ShapeError:
        # The front end proves reads in bounds from ranges alone, not masks, so a transposed
        # convolution's `W(u - h) where 0 <= u - h < KH` is refused: use equality masks there
        # (exact; quadratic in the spatial extent).
        g = differentiate(def_, wrt, invert=False, values=values)
        note = "transposed affine reads as equality masks (the front end cannot prove the "
        note += "solved reads in bounds)"
        return replace(g, backward=_reparse(g.backward), notes=(*g.notes, note))


def _reparse(back):
    from tensorc.frontend import parse_program
    from tensorc.ir.printer import print_def

    text = print_def(back)
    try:
        return parse_program(text, f"<{back.name}>").defs[0]
    except ShapeError:
        raise
    except Exception as err:
        raise AssertionError(f"{back.name} does not re-parse:\n{text}") from err
