"""Gradients of tensorc defs, derived as tensorc equations (reverse mode over TensorIR).

    >>> from tensorc.grad import gradient
    >>> print(gradient(mod.gauss_ksum.def_).text)   # the backward equations

`gradient(def_, wrt)` differentiates and re-parses the printed backward def (so the equations
shown are exactly the ones compiled). `tensorc.grad(fn, wrt)` wraps it as a callable.
"""

from __future__ import annotations

from tensorc.grad.reverse import Gradient, differentiate

__all__ = ["Gradient", "differentiate", "gradient"]


def gradient(def_, wrt=None) -> Gradient:
    """`differentiate`, with the backward def printed and parsed again (canonical form)."""
    from dataclasses import replace

    from tensorc.frontend import parse_program
    from tensorc.ir.printer import print_def

    g = differentiate(def_, None if wrt is None else tuple(wrt))
    text = print_def(g.backward)
    try:
        parsed = parse_program(text, f"<gradient of {def_.name}>").defs[0]
    except Exception as err:  # noqa: BLE001 - a bug here: show the text that failed
        raise AssertionError(f"backward of {def_.name} does not re-parse:\n{text}") from err
    return replace(g, backward=parsed)
