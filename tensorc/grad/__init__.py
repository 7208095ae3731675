"""Gradients of tensorc defs, derived as tensorc equations (reverse mode over TensorIR).

    >>> from tensorc.grad import gradient
    >>> print(gradient(mod.gauss_ksum.def_).text)   # the backward equations

`gradient(def_, wrt)` differentiates and re-parses the printed backward def (so the equations
shown are exactly the ones compiled). `tensorc.grad(fn, wrt)` wraps it as a callable.
"""

from __future__ import annotations

from dataclasses import replace

from tensorc.errors import ShapeError
from tensorc.grad.reverse import Gradient, differentiate

__all__ = ["Gradient", "differentiate", "gradient"]


def gradient(def_, wrt=None) -> Gradient:
    """`differentiate`, with the backward def printed and parsed again (canonical form)."""
    wrt = None if wrt is None else tuple(wrt)
    g = differentiate(def_, wrt)
    try:
        return replace(g, backward=_reparse(g.backward))
    except ShapeError:
        # The front end proves reads in bounds from ranges alone, not masks, so a transposed
        # convolution's `W(u - h) where 0 <= u - h < KH` is refused: use equality masks there
        # (exact; quadratic in the spatial extent).
        g = differentiate(def_, wrt, invert=False)
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
