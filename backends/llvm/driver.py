"""One native entry per program: every kernel in order, its chunks shared by the calling threads.

    void @tc_<prog>_run(ptr %args, ptr %state, i64 %threads)

`args` holds one 8-byte slot per program argument (`slots(prog)`: buffer addresses, then size
values). `state` holds two counters per kernel, a cache line apart and zeroed by the caller:
chunks claimed and chunks done. Every calling thread runs, for each kernel in order:
claim a chunk (atomic add), run it as (chunk, chunk + 1, chunks), count it done, claim again; when
none is left, wait until all are done (the next kernel may read what this one wrote; the wait
spins with `pause`, then yields the core). A thread that starts late finds every chunk claimed and
only passes the waits. A kernel with a split target (`render.split_target`) has
`threads * chunks_per_thread` chunks, any other kernel one. The chunks are fixed by their count,
not by which thread runs them, so a result does not depend on timing.

Example:
    text = render_program(prog) + render_driver(prog)
"""

from __future__ import annotations

import platform

from llvmlite import ir

from tensorc.ir import loop_ir as L

from .mathlib import I64
from .render import PART_ARGS, _sanitize, kernel_symbol, split_target

I32 = ir.IntType(32)
LINE = 8  # i64 counters per cache line: the two counters of a kernel never share one
SPINS = 4000  # `pause` rounds before a waiting thread starts yielding its core
LOOP_CHUNKS = 4  # chunks per thread of a split loop: a late or slowed thread takes fewer
_X86 = platform.machine().lower() in ("x86_64", "amd64", "i686")


def driver_symbol(prog: L.LoopProgram) -> str:
    return f"tc_{_sanitize(prog.name)}_run"


def slots(prog: L.LoopProgram) -> tuple[list[str], list[str]]:
    """(buffer names, size names) in `args` order: each once, in order of first use."""
    bufs = list(dict.fromkeys(b.name for k in prog.kernels for b in k.buffers))
    sizes = list(dict.fromkeys(s for k in prog.kernels for s in k.sizes))
    return bufs, sizes


def chunks_per_thread(kernel: L.Kernel) -> int:
    """0: the kernel runs whole (one chunk); else its chunks per thread. A split Gemm gets one
    per thread, since each row chunk packs all of B again."""
    target = split_target(kernel)
    if target is None:
        return 0
    return 1 if isinstance(kernel.body[target], L.Gemm) else LOOP_CHUNKS


def render_driver(prog: L.LoopProgram) -> str:
    """LLVM IR text of the driver, to append to `render_program(prog)` (which defines the
    kernels it calls)."""
    module = ir.Module()
    ptr = ir.PointerType()
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [ptr, ptr, I64]),
                     name=driver_symbol(prog))
    fn.attributes.add("nounwind")
    args, state, threads = fn.args
    args.name, state.name, threads.name = "args", "state", "threads"
    yield_fn = ir.Function(module, ir.FunctionType(I32, []), name="sched_yield")
    pause = ir.Function(module, ir.FunctionType(ir.VoidType(), []), name="llvm.x86.sse2.pause")
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    spins = b.alloca(I64, name="spins")
    bufs, sizes = slots(prog)
    slot = {name: i for i, name in enumerate(bufs + sizes)}

    def at(base, i):
        return b.gep(base, [ir.Constant(I64, i)], inbounds=True, source_etype=I64)

    for index, k in enumerate(prog.kernels):
        kty = ir.FunctionType(ir.VoidType(), [ptr] * len(k.buffers)
                              + [I64] * (len(k.sizes) + len(PART_ARGS)))
        kfn = ir.Function(module, kty, name=kernel_symbol(prog, index))
        per = chunks_per_thread(k)
        chunks = b.mul(threads, ir.Constant(I64, per)) if per else ir.Constant(I64, 1)
        claimed, done = at(state, 2 * LINE * index), at(state, 2 * LINE * index + LINE)
        claim, run, wait, spin, ready = (fn.append_basic_block(f"k{index}.{x}")
                                         for x in ("claim", "run", "wait", "spin", "ready"))
        b.branch(claim)
        b.position_at_end(claim)
        c = b.atomic_rmw("add", claimed, ir.Constant(I64, 1), "monotonic")
        b.cbranch(b.icmp_signed("<", c, chunks), run, wait)
        b.position_at_end(run)
        kargs = [b.load(at(args, slot[x.name]), typ=ptr) for x in k.buffers]
        kargs += [b.load(at(args, slot[s]), typ=I64) for s in k.sizes]
        b.call(kfn, kargs + [c, b.add(c, ir.Constant(I64, 1)), chunks])
        b.atomic_rmw("add", done, ir.Constant(I64, 1), "release")
        b.branch(claim)
        b.position_at_end(wait)
        b.store(ir.Constant(I64, 0), spins)
        b.branch(spin)
        b.position_at_end(spin)
        finished = b.icmp_signed(">=", b.load_atomic(done, "acquire", 8, typ=I64), chunks)
        with b.if_then(b.not_(finished)):
            n = b.load(spins, typ=I64)
            b.store(b.add(n, ir.Constant(I64, 1)), spins)
            with b.if_else(b.icmp_signed("<", n, ir.Constant(I64, SPINS))) as (short, long):
                with short:
                    if _X86:
                        b.call(pause, [])
                with long:
                    b.call(yield_fn, [])
        b.cbranch(finished, ready, spin)
        b.position_at_end(ready)
    b.ret_void()
    decls = [yield_fn] + ([pause] if _X86 else [])
    return "\n".join(str(f) for f in (*decls, fn)) + "\n"
