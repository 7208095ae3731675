"""Helpers for gradient tests: float64 versions of programs, small random inputs, and a
finite-difference check of a backward def against the forward run by the interpreter."""

from __future__ import annotations

import re

import numpy as np

from tensorc.frontend import parse_program
from tensorc.grad import gradient
from tensorc.ir.interpreter import interpret
from tensorc.ir.types import is_float
from tensorc.runtime.module import Function

PRIMES = (2, 3, 5, 4, 3, 2, 3, 4)
SMALL = (2, 3)


def float64_source(text: str) -> str:
    """The program with every float type made float64 (gradcheck needs double precision)."""
    return re.sub(r"\b(float32|float|half|float16|bfloat16)\b(?=\s*[\(\s])", "float64", text)


def sizes_for(
    def_, overrides: dict[str, int] | None = None, values: tuple[int, ...] = PRIMES
) -> dict[str, int]:
    sizes = {}
    for k, name in enumerate(def_.sizes):
        sizes[name] = values[k % len(values)]
    sizes.update(overrides or {})
    return sizes


def make_inputs(
    def_, sizes: dict[str, int], rng, scalars: dict | None = None, positive: bool = False
) -> list:
    import sympy

    from tensorc.ir.tensor_ir import size_symbol

    subs = {size_symbol(k): v for k, v in sizes.items()}
    args = []
    for t in def_.inputs:
        if t.name in (scalars or {}):
            args.append(scalars[t.name])
            continue
        shape = tuple(int(sympy.sympify(s).subs(subs)) for s in t.shape)
        if is_float(t.dtype):
            x = rng.standard_normal(shape)
            x = np.abs(x) + 0.5 if positive else x
            args.append(float(x) if shape == () else x)
        elif shape == ():
            args.append(1)
        else:
            args.append(rng.integers(0, 2, size=shape).astype(t.dtype))
    return args


def fd_check(
    source: str,
    name: str,
    backend: str = "interp",
    wrt=None,
    sizes=None,
    scalars=None,
    positive=False,
    seed=0,
    rtol=1e-5,
    atol=1e-7,
    args=None,
):
    """Backward def (run on `backend`) == central finite differences of <cotangent, forward>."""
    d = parse_program(source).get(name)
    g = gradient(d, wrt)
    rng = np.random.default_rng(seed)
    sz = sizes_for(d, sizes)
    args = list(args) if args is not None else make_inputs(d, sz, rng, scalars, positive)
    names = [t.name for t in d.inputs]
    fwd = lambda a: interpret(d, dict(zip(names, a)))
    outs = fwd(args)
    cots = {o: rng.standard_normal(np.shape(outs[o])) for o, _ in g.cotangents}
    fn = Function(g.backward, backend)
    res = fn(*args, *[outs[o.name] for o in d.outputs], *[cots[o] for o, _ in g.cotangents])
    res = res if isinstance(res, tuple) else (res,)
    for (x, _), got in zip(g.grads, res):
        pos = names.index(x)
        base = np.array(args[pos], dtype=np.float64)
        want = np.zeros(base.shape)
        eps = 1e-6
        for ix in np.ndindex(base.shape):
            vals = []
            for sgn in (1, -1):
                pert = base.copy()
                pert[ix] += sgn * eps
                a2 = list(args)
                a2[pos] = float(pert) if base.shape == () else pert
                o2 = fwd(a2)
                vals.append(sum(float(np.sum(cots[o] * o2[o])) for o in cots))
            want[ix] = (vals[0] - vals[1]) / (2 * eps)
        np.testing.assert_allclose(
            np.asarray(got, np.float64),
            want,
            rtol=rtol,
            atol=atol,
            err_msg=f"gradient of {name} wrt {x} on {backend}",
        )
    return g


def torch_inputs(def_, values: tuple[int, ...] = SMALL, seed: int = 0):
    """(arguments, the tensors that require grad): float tensors and float scalars (as 0-d
    tensors) require grad; index tensors and int scalars do not. Inputs whose forward is not
    finite (a log or rsqrt of a negative draw) are drawn positive."""
    import torch

    rng = np.random.default_rng(seed)
    sizes = sizes_for(def_, values=values)
    args = make_inputs(def_, sizes, rng)
    names = [t.name for t in def_.inputs]
    outs = interpret(def_, dict(zip(names, args)))
    if not all(np.all(np.isfinite(o)) for o in outs.values() if np.asarray(o).dtype.kind == "f"):
        args = make_inputs(def_, sizes, np.random.default_rng(seed), positive=True)
    targs, leaves = [], []
    for t, a in zip(def_.inputs, args):
        if is_float(t.dtype):
            a = torch.tensor(a, dtype=torch.float64, requires_grad=True)
            leaves.append(a)
        elif t.shape:
            a = torch.from_numpy(np.asarray(a))
        targs.append(a)
    return targs, leaves
