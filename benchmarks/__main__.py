"""`python -m benchmarks --target cpu [--quick] [--only W1,W7] [--out PATH]`.

Runs the workload suite with tensorc and every comparator in one process, writes a JSON file and
a PNG chart next to it, and prints a table. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import report
from benchmarks.machine import machine_info
from benchmarks.runner import TENSORC, run_case
from benchmarks.spec import Case, Env

RESULTS = Path(__file__).resolve().parent / "results"
SCHEMA = 1
DEFAULT_BUDGET_S = {"full": 2.0, "quick": 0.5, "tiny": 0.02}
DEFAULT_TIMEOUT_S = {"full": 600.0, "quick": 120.0, "tiny": 60.0}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    p.add_argument("--target", choices=("cpu", "gpu"), default="cpu")
    p.add_argument(
        "--suite",
        choices=("workloads", "spelling"),
        default="workloads",
        help="workloads (default): the workload suite against comparators; spelling: several "
        "spellings of each family, ratios to the fastest (benchmarks/spelling_suite.py)",
    )
    p.add_argument("--quick", action="store_true", help="smaller sizes (~10x) for a smoke run")
    p.add_argument("--size", choices=("full", "quick", "tiny"), help="size set (overrides --quick)")
    p.add_argument("--only", help="comma list of workloads or case names: W1,W7,GEMM-1024")
    p.add_argument(
        "--impls",
        help="comma list of implementations to run (default: all); "
        "'torch' matches every torch variant",
    )
    p.add_argument(
        "--backend", help="tensorc backend (default: cpu for --target cpu, triton for gpu)"
    )
    p.add_argument(
        "--out",
        type=Path,
        help="JSON path (default benchmarks/results/"
        "<target>-<host>[-<size>].json); the PNG goes next to it",
    )
    p.add_argument("--budget", type=float, help="seconds of timed repeats per implementation")
    p.add_argument("--repeats", type=int, default=30, help="max timed repeats (default 30)")
    p.add_argument(
        "--mem-budget",
        type=float,
        default=4.0,
        help="GiB a dense comparator may allocate; above it is skipped (default 4)",
    )
    p.add_argument(
        "--impl-timeout",
        type=float,
        help="seconds before one implementation is abandoned (default 600 full, "
        "120 quick, 60 tiny); one stuck in native code restarts the harness, which "
        "resumes after it",
    )
    p.add_argument("--resume", type=Path, help=argparse.SUPPRESS)  # used by that restart
    p.add_argument(
        "--threads",
        type=int,
        default=os.cpu_count(),
        help="threads for torch and numba (default: all cores)",
    )
    p.add_argument("--no-chart", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--list", action="store_true", help="list the cases and exit")
    return p.parse_args(argv)


def select_cases(target: str, only: str | None) -> list[Case]:
    if target == "gpu":
        from benchmarks.cases_gpu import gpu_cases

        cases = gpu_cases()
    else:
        from benchmarks.cases import cpu_cases

        cases = cpu_cases()
    if not only:
        return cases
    keys = {k.strip().upper() for k in only.split(",") if k.strip()}
    picked = [c for c in cases if c.workload.upper() in keys or c.name.upper() in keys]
    unknown = keys - {c.workload.upper() for c in cases} - {c.name.upper() for c in cases}
    if unknown:
        raise SystemExit(
            f"--only: unknown {sorted(unknown)}; cases: {', '.join(c.name for c in cases)}"
        )
    return picked


def libraries(target: str) -> dict[str, Any]:
    """Which comparator libraries import here; the reason where one does not."""
    out: dict[str, Any] = {}
    probes = {
        "tensorc": "tensorc",
        "torch": "torch",
        "numba": "numba",
        "pykeops": "pykeops.torch" if target == "gpu" else "pykeops.numpy",
        "opt_einsum": "opt_einsum",
        "matplotlib": "matplotlib",
    }
    for name, module in probes.items():
        try:
            importlib.import_module(module)
            out[name] = {"available": True}
        except Exception as err:  # noqa: BLE001 - any failure to import is a reason to report
            out[name] = {"available": False, "reason": f"{type(err).__name__}: {err}"}
    return out


def _set_threads(n: int) -> None:
    os.environ.setdefault("NUMBA_NUM_THREADS", str(n))
    try:
        import torch

        torch.set_num_threads(n)
    except ImportError:
        pass


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.suite == "spelling":
        from benchmarks import spelling_suite

        return spelling_suite.main(args)
    size = args.size or ("quick" if args.quick else "full")
    cases = select_cases(args.target, args.only)
    if args.list:
        for c in cases:
            print(f"{c.name:<16} {c.workload:<4} {c.title}  sizes[{size}]={c.sizes[size]}")
        return 0
    if args.target == "gpu":
        try:
            import torch

            if not torch.cuda.is_available():
                raise ImportError("torch.cuda.is_available() is False")
        except ImportError as err:
            print(f"--target gpu needs a CUDA device: {err}", file=sys.stderr)
            return 2
    _set_threads(args.threads)
    env = Env(
        target=args.target,
        backend=args.backend or ("triton" if args.target == "gpu" else "cpu"),
        mem_budget=int(args.mem_budget * 2**30),
    )
    budget = args.budget if args.budget is not None else DEFAULT_BUDGET_S[size]
    impl_filter = {s.strip() for s in args.impls.split(",")} if args.impls else None
    host = socket.gethostname().split(".")[0]
    out = args.out or RESULTS / (
        f"{args.target}-{host}" + ("" if size == "full" else f"-{size}") + ".json"
    )

    timeout = args.impl_timeout if args.impl_timeout is not None else DEFAULT_TIMEOUT_S[size]
    argv = list(sys.argv[1:] if argv is None else argv)
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "target": args.target,
        "size": size,
        "tensorc_backend": env.backend,
        "command": "python -m benchmarks " + " ".join(_without_resume(argv)),
        "settings": {
            "budget_s": budget,
            "max_repeats": args.repeats,
            "mem_budget_gib": args.mem_budget,
            "threads": args.threads,
        },
        "speedup_definition": "t_other / t_tensorc (> 1: tensorc is faster)",
        "machine": machine_info(args.target),
        "libraries": libraries(args.target),
        "cases": [],
        "hung": [],
    }
    if args.resume is not None and args.resume.exists():
        old = json.loads(args.resume.read_text())
        doc["cases"], doc["hung"] = old["cases"], old.get("hung", [])
        doc["elapsed_s"] = old.get("elapsed_s", 0)
        done = {c["name"] for c in doc["cases"]}
        cases = [c for c in cases if c.name not in done]
    total = sum(
        len(
            [
                1
                for i in [TENSORC, *(x.name for x in c.impls)]
                if impl_filter is None or i in impl_filter or i.split()[0] in impl_filter
            ]
        )
        for c in cases
    )
    bar = _progress(total, disable=args.no_progress)
    t_start = time.perf_counter() - doc.get("elapsed_s", 0)
    for case in cases:

        def on_impl(name: str, case: Case = case) -> None:
            bar.set_description(f"{case.name}: {name}")
            bar.update(1)

        def on_hang(name: str, case: Case = case) -> None:
            # native code cannot be interrupted: note the culprit, then restart and resume
            doc["hung"].append(f"{case.name}:{name}")
            report.write_json(out, doc)
            print(
                f"\n{case.name}: {name} is stuck in native code after {timeout:.0f} s; "
                "restarting the harness to go on",
                file=sys.stderr,
                flush=True,
            )
            os.execv(
                sys.executable,
                [sys.executable, "-m", "benchmarks", *_without_resume(argv), "--resume", str(out)],
            )

        doc["cases"].append(
            run_case(
                case,
                size,
                env,
                budget_s=budget,
                max_repeats=args.repeats,
                impl_filter=impl_filter,
                impl_timeout_s=timeout,
                on_impl=on_impl,
                on_hang=on_hang,
                hung=set(doc["hung"]),
            )
        )
        doc["elapsed_s"] = round(time.perf_counter() - t_start, 1)
        report.write_json(out, doc)  # after every case: a crash later keeps what was measured
    bar.close()

    if args.no_chart:
        doc["chart"] = None
    else:
        png = out.with_suffix(".png")
        why = report.write_chart(png, doc)
        doc["chart"] = str(png) if why is None else None
        if why:
            doc["chart_skipped"] = why
            print(why, file=sys.stderr)
    report.write_json(out, doc)
    print(report.summary_table(doc))
    print(f"\nwrote {out}" + (f" and {doc['chart']}" if doc.get("chart") else ""))
    return 0


def _without_resume(argv: list[str]) -> list[str]:
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == "--resume":
            skip = True
        elif not a.startswith("--resume="):
            out.append(a)
    return out


class _NoBar:
    def set_description(self, s: str) -> None:
        pass

    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int, disable: bool):
    if disable:
        return _NoBar()
    try:
        from tqdm import tqdm
    except ImportError:
        return _NoBar()
    return tqdm(total=total, unit="impl", dynamic_ncols=True)


if __name__ == "__main__":
    sys.exit(main())
