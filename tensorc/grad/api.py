"""`tensorc.grad(fn, wrt=...)`: the compiled gradient of a compiled def, for numpy users."""

from __future__ import annotations

from typing import Any

import numpy as np

from tensorc.errors import ArgumentError


class GradFunction:
    """Gradients of a compiled def with respect to some of its inputs.

    `g(*inputs)` runs the forward def, then its backward def with every float output's
    cotangent 1 (the gradient of the sum of the outputs; for a scalar output, its gradient);
    `g(*inputs, cotangents=(dO, ...))` gives the vector-Jacobian product with those cotangents.
    One wrt name gives one array back, several a tuple in `wrt` order.

    Example:
        >>> mod = tensorc.compile("def f(float(N) x) -> (y) { y = sum(i: x(i) * x(i)) }")
        >>> tensorc.grad(mod.f, wrt="x")(np.arange(3.0, dtype=np.float32))   # [0, 2, 4]
    """

    def __init__(
        self,
        fn: Any,
        wrt: str | tuple[str, ...] | list[str] | None = None,
        backend: str | None = None,
    ):
        from tensorc.grad import gradient
        from tensorc.runtime.module import Function

        if not isinstance(fn, Function):
            raise ArgumentError(
                f"tensorc.grad: expected a compiled def (e.g. mod.f), got {type(fn).__name__}",
                hint="compile the equations with tensorc.compile or tensorc.load first",
            )
        wrt = (wrt,) if isinstance(wrt, str) else wrt
        self.gradient = gradient(fn.def_, wrt, save_values=True)
        self.backend = backend or fn.backend
        # the saving forward: the def with the values its backward reads as extra outputs
        self.forward = Function(self.gradient.forward, fn.backend, autograd_ops=False)
        self.backward = Function(self.gradient.backward, self.backend, autograd_ops=False)
        self.wrt = self.gradient.wrt

    @property
    def __name__(self) -> str:
        return f"grad_{self.forward.def_.name}"

    def __call__(self, *args: Any, cotangents: Any = None) -> Any:
        d = self.forward.def_
        outs = self.forward(*[_detached(a) for a in args])
        outs = outs if isinstance(outs, tuple) else (outs,)
        cotangent = {o for o, _ in self.gradient.cotangents}
        floats = [o for o, t in zip(outs, d.outputs) if t.name in cotangent]
        if cotangents is None:
            cots = [_ones_like(o) for o in floats]
        else:
            cots = list(cotangents) if isinstance(cotangents, (tuple, list)) else [cotangents]
            if len(cots) != len(floats):
                names = [o for o, _ in self.gradient.cotangents]
                raise ArgumentError(
                    f"grad of {d.name}: expected {len(floats)} cotangent(s) "
                    f"(one per float output: {', '.join(names)}), got {len(cots)}"
                )
        return self.backward(*[_detached(a) for a in args], *outs, *cots)


def _detached(a: Any) -> Any:
    return a.detach() if hasattr(a, "detach") else a


def _ones_like(o: Any) -> Any:
    """Ones of `o`'s shape as a broadcast view, which the backward reads as one scalar."""
    if hasattr(o, "new_ones"):
        return o.new_ones(()).expand(o.shape)
    return np.broadcast_to(np.ones((), o.dtype), np.shape(o))


def grad(
    fn: Any, wrt: str | tuple[str, ...] | list[str] | None = None, backend: str | None = None
) -> GradFunction:
    """The compiled gradient of `fn` (a compiled def) with respect to `wrt` (default: every
    float input); see `GradFunction`. The backward equations: `grad(fn).gradient.backward`."""
    return GradFunction(fn, wrt, backend)
