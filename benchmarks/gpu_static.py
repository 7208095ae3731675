"""Static report of the GPU suite: compile every tensorc kernel of `cases_gpu.py` for an H100
(sm_90) without a GPU, at the suite's real sizes, and list per kernel the Triton path, warps and
stages, registers, spills, shared memory, tensor-core instructions and compile time. No timing.

    python -m benchmarks.gpu_static --out /tmp/gpu_static.json            # default configs
    python -m benchmarks.gpu_static --only W4,W1-ksum-d64 --ptx /tmp/ptx   # also write the PTX
    python -m benchmarks.gpu_static --all-configs                           # every tuning config
    python -m benchmarks.gpu_static --suite cpu                             # the CPU suite's programs

Inputs are never allocated: the case's `make_inputs` runs with an rng that returns broadcast
zeros, so only shapes (and scalars) reach the size binding. Triton's cache is a fresh temporary
directory, so compile times are cold.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import sympy


class _ShapeRng:
    """Stands in for numpy's Generator in `make_inputs`: zero-strided arrays, no memory."""

    def random(self, shape, dtype=np.float64):
        return np.broadcast_to(np.zeros((), dtype), shape)

    standard_normal = random


def bind(case, size: str = "full") -> tuple[object, dict, dict]:
    """(the case's Def, its sizes, scalar values) as a call with the case's inputs would bind."""
    import tensorc
    from tensorc.ir.types import is_int

    def_ = getattr(tensorc.compile(case.source, backend="interp"), case.entry).def_
    inputs = case.make_inputs(case.sizes[size], _ShapeRng())  # also sets the case's TF32 flags
    sizes, scalars = {}, {}
    for decl in def_.inputs:
        value = inputs[decl.name]
        if decl.shape == ():
            scalars[decl.name] = value
            if is_int(decl.dtype):
                sizes[decl.name] = int(value)
        for dim, n in zip(decl.shape, np.shape(value)):
            if sympy.sympify(dim).is_Symbol:
                sizes[str(dim)] = int(n)
    return def_, sizes, scalars


def report_case(case, all_configs: bool = False) -> list[dict]:
    """One row per (config, kernel) of `case` at full size."""
    import torch
    from tensorc.backends.triton.aot import compile_for_gpu
    from tensorc.backends.triton.backend import gpu_configs

    from tensorc.pipeline import to_loops

    def_, sizes, scalars = bind(case)
    prog = to_loops(def_, target="gpu", sizes=sizes)
    configs = gpu_configs(prog, bool(torch.backends.cuda.matmul.allow_tf32))
    rows = []
    for n, cfg in enumerate(configs if all_configs else configs[:1]):
        try:
            reports = compile_for_gpu(prog, sizes, cfg, scalars=scalars)
        except Exception as err:  # noqa: BLE001 - a failed compile is a finding, not a crash
            rows.append({"case": case.name, "config": n, "error": f"{type(err).__name__}: {err}"})
            continue
        for r in reports:
            rows.append({"case": case.name, "config": n, **asdict(r)})
    return rows


def _line(r: dict) -> str:
    if "error" in r:
        return f"{r['case']:<22} cfg{r['config']:<2} ERROR {r['error'].splitlines()[0][:90]}"
    cx = r["constexprs"]
    tiles = "x".join(str(cx[k]) for k in ("BLOCK_I", "BLOCK_J") if k in cx) or str(cx.get("BLOCK"))
    flag = "" if r["spill_bytes"] == 0 and r["shared_ok"] else "  <-- spills/shared"
    return (
        f"{r['case']:<22} cfg{r['config']:<2} {r['name'][:26]:<26} {r['path'][:18]:<18} "
        f"{tiles:>8} w{r['num_warps']} s{r['num_stages']} regs {r['n_regs']:>3} "
        f"spill {r['spill_bytes']:>4} smem {r['shared'] // 1024:>3}K {r['tensor_cores']:<5} "
        f"{r['compile_s']:5.1f}s{flag}"
    )


def main(argv: list[str] | None = None) -> int:
    from tensorc.backends.triton.aot import unavailable

    from benchmarks.__main__ import select_cases

    p = argparse.ArgumentParser(prog="python -m benchmarks.gpu_static", description=__doc__)
    p.add_argument("--only", default=None, help="workloads or case names, comma separated")
    p.add_argument("--suite", choices=("gpu", "cpu"), default="gpu",
                   help="cpu: the CPU suite's fp32 programs at their sizes (TF32 off)")  # fmt: skip
    p.add_argument("--out", default=None, help="JSON path (PTX left out unless --ptx)")
    p.add_argument("--ptx", default=None, help="directory to write each kernel's PTX into")
    p.add_argument("--all-configs", action="store_true", help="every config of backend.space()")
    args = p.parse_args(argv)
    why = unavailable()
    if why:
        print(f"cannot compile for CUDA here: {why}", file=sys.stderr)
        return 1
    os.environ.setdefault("TRITON_CACHE_DIR", tempfile.mkdtemp(prefix="tc-aot-"))
    cases = select_cases(args.suite, args.only)
    start, rows = time.perf_counter(), []
    for case in cases:
        for r in report_case(case, args.all_configs):
            print(_line(r), flush=True)
            ptx = r.pop("ptx", "")
            if args.ptx and ptx:
                d = Path(args.ptx)
                d.mkdir(parents=True, exist_ok=True)
                (d / f"{r['case']}-cfg{r['config']}-{r['name']}.ptx").write_text(ptx)
            rows.append(r)
    if args.out:
        out = {"target": "cuda sm_90 (compiled, not run)", "rows": rows,
               "elapsed_s": time.perf_counter() - start}  # fmt: skip
        Path(args.out).write_text(json.dumps(out, indent=1, default=str))
    bad = [r for r in rows if "error" in r or r["spill_bytes"] or not r["shared_ok"]]
    print(f"{len(rows)} kernel compiles, {len(bad)} with errors, spills or too much shared memory")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
