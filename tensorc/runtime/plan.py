"""A call's plan: what one argument signature needs, decided once (`Plan`), and what one set of
sizes needs (`Launch`: the executable and the buffers to allocate). See module.py's data path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sympy

from tensorc.errors import TensorcError
from tensorc.ir.tensor_ir import Def
from tensorc.runtime import arrays, call_args

if TYPE_CHECKING:
    from tensorc.runtime.module import Function


@dataclass(frozen=True, slots=True)
class Launch:
    """What one call at one set of sizes needs: the program, its executable, and the buffers to
    allocate (name, shape, dtype), evaluated once per sizes rather than once per call."""

    prog: Any
    exe: Any
    allocations: tuple[tuple[str, tuple[int, ...], str], ...]

    @staticmethod
    def make(prog: Any, exe: Any, sizes: dict[str, int]) -> Launch:
        bufs = (*prog.outputs, *prog.temps)
        shapes = tuple(tuple(eval_dim(d, sizes) for d in b.shape) for b in bufs)
        return Launch(prog, exe, tuple((b.name, sh, b.dtype) for b, sh in zip(bufs, shapes)))

    def __iter__(self):  # `prog, exe = fn._executable(...)` keeps working
        return iter((self.prog, self.exe))


@dataclass(frozen=True, slots=True)
class Plan:
    """A call's work that depends only on its arguments' signature, decided once (every check
    passed): the sizes, the backend's executable (None: the reference interpreter) and the buffers
    to allocate (name, shape, buffer dtype), how each input becomes a backend buffer and each
    output goes back to the caller (None: as it is)."""

    backend: str
    def_: Def
    sizes: dict[str, int]
    exe: Any
    allocations: tuple[tuple[str, tuple[int, ...], Any], ...]
    zeros: Callable  # (shape, buffer dtype) -> a zero-filled buffer
    inputs: tuple[tuple[str, Callable | None], ...]
    outputs: tuple[tuple[str, Callable | None], ...]
    out_slots: tuple[call_args.OutSlot, ...] = ()  # a call with out= buffers: how each is filled
    guard: Callable | None = None  # the per-call check of index tensors (bounds.check)
    # temp buffers of finished calls, zeroed and reused by the next (a fresh 64 MB buffer costs
    # ~10 ms of page faults, its memset ~4 ms); one set per concurrent call at most
    spare: list = field(default_factory=list, compare=False, repr=False)

    @staticmethod
    def make(fn: Function, args: tuple, infos: list, sizes: dict[str, int], name: str,
             launch: Launch | None, device: str) -> Plan:
        on_torch = name == "triton"
        like = "torch" if any(i.kind == "torch" for i in infos) else "numpy"
        inputs = tuple(
            (d.name, arrays.torch_conversion(a, d.dtype, device) if on_torch
             else arrays.numpy_conversion(a, d.dtype))
            for d, a in zip(fn.def_.inputs, args)
        )
        outputs = tuple(
            (d.name, arrays.to_user_conversion(on_torch, d.dtype, like, device))
            for d in fn.def_.outputs
        )
        if on_torch:
            zeros, dtype = arrays.zeros_torch(device), arrays.torch_dtype
        else:
            zeros, dtype = arrays.zeros_numpy, arrays.numpy_dtype
        if launch is None:
            return Plan(name, fn.def_, sizes, None, (), zeros, inputs, outputs)
        allocations = tuple((buf, shape, dtype(dt)) for buf, shape, dt in launch.allocations)
        return Plan(name, fn.def_, sizes, launch.exe, allocations, zeros, inputs, outputs)

    def __call__(self, args: tuple) -> Any:
        outputs = self.run(args)
        results = tuple(back(outputs[n]) if back else outputs[n] for n, back in self.outputs)
        return results[0] if len(results) == 1 else results

    def into(self, args: tuple, outs: tuple) -> Any:
        """Run with the caller's `out=` buffers (checked by `out_slots` for this signature; for
        aliasing here, per call) holding the outputs; return them."""
        d = self.def_
        call_args.check_no_alias(d.name, d.outputs, outs, d.inputs, args)
        preset = {}
        if self.exe is not None:
            preset = {s.name: s.view(b) if s.view else b
                      for s, b in zip(self.out_slots, outs) if s.direct}
        outputs = self.run(args, preset)
        for slot, buf in zip(self.out_slots, outs):
            if slot.name not in preset:
                call_args.copy_into(buf, outputs[slot.name])
        return outs[0] if len(outs) == 1 else outs

    def run(self, args: tuple, preset: dict[str, Any] | None = None) -> dict[str, Any]:
        buffers = {n: conv(a) if conv else a for (n, conv), a in zip(self.inputs, args)}
        if self.guard is not None:
            self.guard(buffers)
        if self.exe is None:
            from tensorc.ir.interpreter import interpret

            return interpret(self.def_, buffers)
        # Outputs and temps are fresh per call (calls may run concurrently from several threads),
        # except outputs the caller passed as out= buffers (`preset`), zero-filled like fresh ones.
        try:
            spare = self.spare.pop()
        except IndexError:  # the first call, or every set is in use by another thread
            spare = {}
        for buf, shape, dtype in self.allocations:
            given = preset.get(buf) if preset else None
            given = spare.get(buf) if given is None else given
            buffers[buf] = self.zeros(shape, dtype) if given is None else call_args.zeroed(given)
        self.exe(buffers, dict(self.sizes))
        outs = {n for n, _ in self.outputs}
        self.spare.append({b: buffers[b] for b, _, _ in self.allocations if b not in outs})
        return buffers


def eval_dim(dim: Any, sizes: dict[str, int]) -> int:
    # A literal or a size symbol directly (sympy's subs costs ~0.5 ms: a new size of a known
    # program evaluates its buffer shapes and nothing else)
    if isinstance(dim, int) or getattr(dim, "is_Integer", False):
        return max(int(dim), 0)
    if getattr(dim, "is_Symbol", False) and dim.name in sizes:
        return max(int(sizes[dim.name]), 0)
    value = sympy.sympify(dim).subs({sympy.Symbol(k, integer=True, nonnegative=True): v
                                     for k, v in sizes.items()})
    if not value.is_Integer:
        value = sympy.sympify(dim).subs({sympy.Symbol(k): v for k, v in sizes.items()})
    if not value.is_Integer:
        raise TensorcError(f"cannot evaluate dimension {dim} with sizes {sizes}")
    return max(int(value), 0)
