"""The `tensorc` command: check, ir, explain and run `.tc` files.

    tensorc --version
    tensorc check FILE                  all errors, exit 1 on error
    tensorc ir FILE                     the canonical TensorIR
    tensorc explain FILE|SOURCE [--def NAME] [--target cpu|gpu] [--size N=1000 ...]
    tensorc run FILE [--def NAME] --size N=1000 ... [--backend B] [--repeat 5] [--check]
    tensorc tune FILE [--def NAME] --size N=1000 ... [--backend B] [--budget 1.0]
    tensorc grad FILE [--def NAME] [--wrt x,y] [--explain]   the backward equations
    tensorc cache info|list|clear|prune [--kind K] [--older-than 7d] [--max 500M] [--json]

`run` and `tune` make random inputs, so they need every size of the def (`--size`, one per size
symbol and integer scalar parameter); a missing one is an error that lists them all, and a name no
def uses is an error with a did-you-mean. A def the backend cannot compile follows the API's rule
(`runtime.module.Function`): without `--backend` it falls back to the reference interpreter with
a warning, with `--backend` it is an error.
"""

from __future__ import annotations

import argparse
import difflib
import sys
import time
import traceback
import warnings
from pathlib import Path

import numpy as np


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from tensorc.errors import TensorcError

    try:
        with warnings.catch_warnings():
            warnings.showwarning = _warning_printer()
            return args.handler(args)
    except TensorcError as err:
        # User errors print as themselves: no internal frames.
        print(err.format(), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `tensorc explain ... | head`
        return 0
    except Exception:  # noqa: BLE001 - an internal bug: say so, with the frames a developer needs
        traceback.print_exc()
        print("tensorc: internal error (a bug in tensorc, please report it)", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    from tensorc.backends import CHOICES

    p = argparse.ArgumentParser(prog="tensorc", description=__doc__.split("\n")[0])
    p.add_argument("--version", action="version", version=_version())
    sub = p.add_subparsers(required=True, metavar="COMMAND")

    c = sub.add_parser("check", help="parse and check a .tc file; print every error and warning")
    c.add_argument("file")
    c.add_argument("--strict", action="store_true", help="treat warnings as errors (exit 1)")
    c.set_defaults(handler=_check)

    c = sub.add_parser("ir", help="print the checked, canonical TensorIR")
    c.add_argument("file")
    c.set_defaults(handler=_ir)

    c = sub.add_parser("explain", help="the kernel plan: loops, fusions, buffers, costs")
    c.add_argument("file", help="a .tc file, or the source text of a program")
    c.add_argument("--def", dest="def_name")
    c.add_argument("--target", choices=("cpu", "gpu"), default="cpu")
    c.add_argument("--size", action="append", default=[], metavar="NAME=VALUE")
    c.set_defaults(handler=_explain)

    c = sub.add_parser("run", help="compile and run a def on random inputs; print result and time")
    c.add_argument("file")
    c.add_argument("--def", dest="def_name")
    c.add_argument("--size", action="append", default=[], metavar="NAME=VALUE",
                   help="every size symbol and integer scalar of the def (required)")
    c.add_argument("--backend", choices=CHOICES, default=None,
                   help="default: per the inputs, falling back to the interpreter with a warning")
    c.add_argument("--repeat", type=int, default=5)
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--check", action="store_true",
                   help="also run the reference interpreter and report the largest error")
    c.set_defaults(handler=_run)

    c = sub.add_parser("tune", help="autotune a def on random inputs; remember the fastest schedule")
    c.add_argument("file")
    c.add_argument("--def", dest="def_name")
    c.add_argument("--size", action="append", default=[], metavar="NAME=VALUE",
                   help="every size symbol and integer scalar of the def (required)")
    c.add_argument("--backend", choices=("cpu", "triton"), default=None)
    c.add_argument("--budget", type=float, default=1.0, help="timing seconds per candidate")
    c.add_argument("--seed", type=int, default=0)
    c.set_defaults(handler=_tune)

    c = sub.add_parser("grad", help="print the backward equations (the gradient def) of a def")
    c.add_argument("file")
    c.add_argument("--def", dest="def_name")
    c.add_argument("--wrt", help="comma-separated inputs (default: every float input)")
    c.add_argument("--explain", action="store_true", help="also the backward's kernel plan")
    c.add_argument("--target", choices=("cpu", "gpu"), default="cpu")
    c.set_defaults(handler=_grad)

    from tensorc.cache import report

    c = sub.add_parser("cache", help="the kernel cache: info, list, clear or prune it")
    report.add_arguments(c)
    c.set_defaults(handler=_cache)
    return p


def _cache(args) -> int:
    from tensorc.cache import report

    return report.run(args)


def _read(path: str):
    from tensorc.errors import TensorcError
    from tensorc.frontend import parse_program

    try:
        source = Path(path).read_text()
    except OSError as err:
        raise TensorcError(f"cannot read {path}: {err.strerror}") from None
    return parse_program(source, path)


def _check(args) -> int:
    from tensorc.errors import TensorcWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TensorcWarning)
        program = _read(args.file)
    found = [w for w in caught if issubclass(w.category, TensorcWarning)]
    for w in found:
        text = str(w.message)
        print(text.replace(": warning: ", ": error: ", 1) if args.strict else text, file=sys.stderr)
    if found and args.strict:
        print(f"{args.file}: {len(found)} warning(s) treated as errors (--strict)", file=sys.stderr)
        return 1
    names = ", ".join(d.name for d in program.defs)
    note = f", {len(found)} warning(s)" if found else ""
    print(f"{args.file}: ok ({len(program.defs)} def(s): {names}{note})")
    return 0


def _ir(args) -> int:
    from tensorc.ir.printer import print_program

    print(print_program(_read(args.file)))
    return 0


def _explain(args) -> int:
    from tensorc.explain import explain
    from tensorc.sources import parse_path_or_source

    program = parse_path_or_source(args.file, "<command line>")
    defs = _defs(program, args.def_name)
    sizes = _sizes(args.size, defs) or None
    for d in defs:
        print(explain(d, target=args.target, sizes=sizes))
    return 0


def _run(args) -> int:
    from tensorc.runtime.module import Function

    program = _read(args.file)
    defs = _defs(program, args.def_name)
    sizes = _sizes(args.size, defs)
    rng = np.random.default_rng(args.seed)
    for d in defs:
        fn = Function(d, args.backend)
        inputs = _random_inputs(d, sizes, rng)
        compile_s = fn.compile_time(*inputs)
        out = fn(*inputs)
        times = []
        for _ in range(max(1, args.repeat)):
            start = time.perf_counter()
            out = fn(*inputs)
            times.append(time.perf_counter() - start)
        outs = out if isinstance(out, tuple) else (out,)
        used = {k: v for k, v in _all_sizes(d, sizes).items()}
        print(f"{d.name} [{fn.last_backend}] sizes {' '.join(f'{k}={v}' for k, v in used.items())}")
        print(f"  compile {compile_s * 1e3:9.1f} ms   run {np.median(times) * 1e3:9.3f} ms "
              f"(median of {len(times)})")
        for decl, value in zip(d.outputs, outs):
            print(f"  {decl.name}: {_summary(_values(value, decl.dtype))}")
        if args.check:
            ref = Function(d, "interp")(*inputs)
            refs = ref if isinstance(ref, tuple) else (ref,)
            for decl, value, want in zip(d.outputs, outs, refs):
                err = _max_rel_err(_values(value, decl.dtype), _values(want, decl.dtype))
                print(f"  check {decl.name} vs interpreter: max rel err {err:.2e}")
    return 0


def _tune(args) -> int:
    from tensorc.autotune import tune
    from tensorc.runtime.module import Function

    program = _read(args.file)
    defs = _defs(program, args.def_name)
    sizes = _sizes(args.size, defs)
    rng = np.random.default_rng(args.seed)
    for d in defs:
        fn = Function(d, args.backend)
        result = tune(fn, *_random_inputs(d, sizes, rng), budget=args.budget,
                      progress=sys.stderr.isatty())
        print(f"{d.name}: {len(result.trials)} candidates, best is {result.speedup:.2f}x the default")
        print(result.table())
    return 0


def _grad(args) -> int:
    from tensorc.grad import gradient
    from tensorc.ir.printer import print_def, print_statement

    program = _read(args.file)
    wrt = [w.strip() for w in args.wrt.split(",") if w.strip()] if args.wrt else None
    for d in _defs(program, args.def_name):
        g = gradient(d, wrt, save_values=True)
        saved = ", ".join(g.saved)
        cots = ", ".join(f"{c} = d(loss)/d({o})" for o, c in g.cotangents)
        cots = cots or "none (no float output: every gradient is 0)"
        print(f"# backward of {d.name}: saved forward outputs {saved}; cotangents {cots}")
        for st in g.forward.body[len(d.body) :]:  # what the saving forward adds
            print(f"# the forward also saves {print_statement(st)}")
        for note in g.notes:
            print(f"# {note}")
        print(print_def(g.backward))
        if args.explain:
            from tensorc.explain import explain

            print(explain(g.backward, target=args.target))
    return 0


def _defs(program, name):
    from tensorc.errors import NameError_

    if name is None:
        return list(program.defs)
    names = [d.name for d in program.defs]
    if name not in names:
        raise NameError_(f"no def named {name!r}", hint=f"the file defines: {', '.join(names)}")
    return [program.get(name)]


def _sizes(items: list[str], defs: list) -> dict[str, int]:
    """The `--size NAME=VALUE` options; a name that none of `defs` uses is an error."""
    from tensorc.errors import ArgumentError, NameError_

    out = {}
    for item in items:
        key, _, value = item.partition("=")
        try:
            out[key.strip()] = int(float(value))
        except ValueError:
            raise ArgumentError(
                f"--size {item!r}: expected NAME=INTEGER", hint="e.g. --size N=1000"
            ) from None
    known = list(dict.fromkeys(n for d in defs for n in _size_names(d)))
    for key in out:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            names = ", ".join(known) or "none"
            raise NameError_(
                f"--size {key}: no size named {key!r} in {', '.join(d.name for d in defs)}",
                hint=(f"did you mean {close[0]!r}? " if close else "") + f"its sizes are: {names}",
            )
    return out


def _size_names(d) -> list[str]:
    """Size symbols of the inputs' shapes, then integer scalar parameters (they bound ranges)."""
    from tensorc.ir.types import is_int

    return list(d.sizes) + [p.name for p in d.inputs if p.shape == () and is_int(p.dtype)]


def _all_sizes(d, sizes: dict[str, int]) -> dict[str, int]:
    """Every size `d` needs to make its inputs; each must be given (no default: a guess of 256
    for every size asks some defs for terabytes)."""
    from tensorc.errors import ArgumentError

    names = _size_names(d)
    missing = [n for n in names if n not in sizes]
    if missing:
        example = " ".join(f"--size {n}={sizes.get(n, 64)}" for n in names)
        raise ArgumentError(
            f"def {d.name} needs sizes that were not given: {', '.join(missing)}",
            hint=f"give every size of the def, e.g. {example}",
        )
    return {n: sizes[n] for n in names}


def _random_inputs(d, sizes: dict[str, int], rng: np.random.Generator) -> list:
    """Random inputs of the declared dtypes; integer tensors stay within the smallest size so
    that they are valid indices for gathers."""
    import sympy

    from tensorc.ir.types import is_float, is_int, to_numpy

    from tensorc.ir.interpreter import f32_to_bf16

    all_sizes = _all_sizes(d, sizes)
    subs = {sympy.Symbol(k, integer=True, nonnegative=True): v for k, v in all_sizes.items()}
    shapes = {p.name: tuple(max(0, int(sympy.sympify(s).subs(subs))) for s in p.shape)
              for p in (*d.inputs, *d.outputs)}
    _check_memory(d, shapes, all_sizes)
    smallest = min(all_sizes.values(), default=1)
    inputs = []
    for p in d.inputs:
        if p.shape == ():
            inputs.append(all_sizes[p.name] if is_int(p.dtype) else 1.0)
            continue
        shape = shapes[p.name]
        if is_float(p.dtype):
            arr = rng.standard_normal(shape).astype(np.float32)
            # numpy has no bfloat16: such inputs go as their bits (uint16), as the API accepts
            arr = f32_to_bf16(arr) if p.dtype == "bfloat16" else arr.astype(to_numpy(p.dtype))
        elif is_int(p.dtype):
            arr = rng.integers(0, max(1, smallest), size=shape).astype(to_numpy(p.dtype))
        else:
            arr = rng.random(shape) < 0.5
        inputs.append(arr)
    return inputs


def _check_memory(d, shapes: dict[str, tuple[int, ...]], sizes: dict[str, int]) -> None:
    """Refuse sizes whose inputs and outputs alone exceed this machine's memory (the kernel would
    be killed, not fail): an error naming the sizes and the bytes, before anything is allocated."""
    import os

    from tensorc.errors import ArgumentError
    from tensorc.ir.types import DTYPES

    need = sum(
        int(np.prod(shapes[p.name], dtype=object)) * DTYPES[p.dtype].bits // 8
        for p in (*d.inputs, *d.outputs)
        if p.dtype in DTYPES  # an untyped output's dtype is known after checking: skipped
    )
    try:
        have = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # not POSIX: no check
        return
    if need > 0.8 * have:
        given = " ".join(f"{k}={v}" for k, v in sizes.items())
        raise ArgumentError(
            f"def {d.name} at {given} needs {need / 2**30:,.1f} GiB for its inputs and outputs, "
            f"more than this machine's {have / 2**30:,.1f} GiB",
            hint="give smaller --size values",
        )


def _version() -> str:
    import llvmlite

    import tensorc

    return (f"tensorc {tensorc.__version__} (python {sys.version.split()[0]}, "
            f"numpy {np.__version__}, llvmlite {llvmlite.__version__})")


def _warning_printer():
    """`warnings.showwarning` for the command: `tensorc: warning: ...`, each message once (a
    command has no caller's line to point at; compiling and running may warn alike)."""
    seen: set[str] = set()

    from tensorc.errors import TensorcWarning

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        text = str(message).removeprefix("tensorc: ")
        if text not in seen:
            seen.add(text)
            if not issubclass(category, TensorcWarning):  # ours name their file:line:col
                text = f"tensorc: warning: {text}"
            print(text, file=sys.stderr if file is None else file)

    return show


def _values(a, dtype: str) -> np.ndarray:
    """An output as numbers (bfloat16 comes back from numpy inputs as its uint16 bits)."""
    from tensorc.ir.interpreter import bf16_to_f32

    return bf16_to_f32(a) if dtype == "bfloat16" else np.asarray(a)


def _summary(a: np.ndarray) -> str:
    flat = a.reshape(-1)
    head = np.array2string(flat[:4], precision=4, separator=", ")
    stats = ""
    if flat.size and np.issubdtype(a.dtype, np.number):
        stats = f" mean {float(np.mean(flat, dtype=np.float64)):.6g}"
    return f"{a.dtype}{list(a.shape)} {head}{'...' if flat.size > 4 else ''}{stats}"


def _max_rel_err(got: np.ndarray, want: np.ndarray) -> float:
    got, want = got.astype(np.float64), want.astype(np.float64)
    if got.size == 0:
        return 0.0
    scale = max(np.max(np.abs(want)), 1e-30)
    return float(np.max(np.abs(got - want)) / scale)


if __name__ == "__main__":
    sys.exit(main())
