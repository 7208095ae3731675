"""Which sizes a compiled program is specific to: the key under which a def's lowered program and
object code are reused for a new size.

A program lowered with the default schedule is valid at every size except the ones the schedule
specialised (sizes up to `schedule.SPECIALISE_MAX` are baked in as constants; see
`LoopProgram.static_sizes`). The other sizes only steer heuristics (split-j, the contraction
order, Gram rewriting at D >= 32, inlining prices), whose thresholds sit at powers of two or far
apart, so a program is kept per power-of-two bucket of each such size: a new N in a known bucket
reuses the program (no lowering, rendering or building: only its buffer shapes are evaluated),
and a new bucket is lowered once, with heuristics for its sizes.

Example:
    >>> size_class(gauss_def, {"N": 1000, "M": 1500, "D": 3, "E": 1})
    ('D=3', 'E=1', 'M~2^11', 'N~2^10')
"""

from __future__ import annotations

from tensorc.ir.tensor_ir import Def

__all__ = ["size_class"]


def size_class(def_: Def, sizes: dict[str, int]) -> tuple[str, ...]:
    """`NAME=value` for each size the default schedule specialises, `NAME~2^k` (k: the bit length,
    so 2^(k-1) <= value < 2^k) for the sizes it keeps symbolic; sorted by name."""
    from tensorc.schedule.schedule import SPECIALISE_MAX

    shape_sizes = set(def_.sizes)  # integer scalar parameters are never specialised
    return tuple(
        f"{n}={v}" if n in shape_sizes and v <= SPECIALISE_MAX else f"{n}~2^{int(v).bit_length()}"
        for n, v in sorted(sizes.items())
    )
