"""Split-j (tensorc/schedule/split.py): reductions with small outputs computed over chunks of their
range in a parallel partial kernel, then combined in chunk order.

Every reduction kind runs split on the loops, cpu and triton (TRITON_INTERPRET) backends and is
compared with the TensorIR interpreter at edge sizes (1, primes, fewer terms than chunks, empty
ranges, no rows); results must be bitwise the same for any thread count; the automatic decision
follows the sizes.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import sympy
from support import require_backend

import tensorc
from tensorc.explain import explain
from tensorc.frontend import parse_program
from tensorc.ir.types import to_numpy
from tensorc.passes import run_pipeline
from tensorc.pipeline import to_loops
from tensorc.schedule import Schedule, default_schedule, lower

SRC = """
def total(float(N,M) a) -> (s) { s = a(i,j) }
def rsum(float(N,M) a) -> (o) { o(i) = sum(j: a(i,j)) }
def rprod(float(N,M) a) -> (o) { o(i) = prod(j: a(i,j)) }
def rmax(float(N,M) a) -> (o) { o(i) = max(j: a(i,j)) }
def rmin(float(N,M) a) -> (o) { o(i) = min(j: a(i,j)) }
def amax(float(N,M) a) -> (o) { o(i) = argmax(j: a(i,j)) }
def amin(float(N,M) a) -> (o) { o(i) = argmin(j: a(i,j)) }
def amin2(float(N,M) a) -> (s) { s = argmin(i, j: a(i,j)) }
def km(float(N,M) a) -> (o) { o(i, r) = kmin(j: a(i,j), 3) }
def akm(float(N,M) a) -> (o) { o(i, r) = argkmin(j: a(i,j), 3) }
def lse(float(N,M) a) -> (o) { o(i) = logsumexp(j: a(i,j)) }
def lse2(float(N,M) a) -> (s) { s = logsumexp(i, j: a(i,j)) }
def tri(float(N,M) a) -> (o) { o(i) = sum(j: a(i,j)) where j <= i }
def vmask(float(N,M) a) -> (o) { o(i) = max(j: a(i,j)) where a(i,j) < 0.5 }
def sm(float(N,M) a, float(M,E) v) -> (o) { o(i,e) = softmax(j: a(i,j)) * v(j,e) }
def smtri(float(N,M) a, float(M,E) v) -> (o) { o(i,e) = softmax(j: a(i,j)) * v(j,e) where j <= i }
def ks(float(N,M) a, float(M,E) v) -> (o) { o(i,e) = exp(-a(i,j)) * v(j,e) }
def tmax(float(N,M) a) -> (s) { s = max(i, j: a(i,j)) }
def tri2(float(N,M) a) -> (s) { s = sum(i, j: a(i,j)) where j <= i }
def low(float(N,M) a) -> (s) { s = sum(i, j: a(i,j)) where i >= 2 }
"""
PROGRAM = parse_program(SRC, "<split_j>")
NAMES = [d.name for d in PROGRAM.defs]
ROWS = ["total", "lse2", "tmax", "tri2", "low"]  # multi-index reductions to a scalar
WITH_V = {"sm", "smtri", "ks"}
# (N, M): one term, primes, fewer terms than chunks, empty reduction, no rows, several chunks
SIZES = [(1, 1), (3, 13), (5, 3), (2, 0), (0, 4), (17, 131)]
_interp = tensorc.compile(SRC, backend="interp")
_compiled: dict = {}


def _compile(name: str, backend: str, split: int, threads: int = 2):
    """The def lowered with Schedule.split_j = `split` (symbolic sizes), built for `backend`;
    split 0 (automatic) decides as for N = M = 1000."""
    key = (name, backend, split, threads)
    if key not in _compiled:
        def_ = run_pipeline(PROGRAM.get(name))
        target = "gpu" if backend == "triton" else "cpu"
        plan = (("N", 1000), ("M", 1000)) if split == 0 else ()
        prog = lower(def_, replace(default_schedule(def_, target), split_j=split, plan_sizes=plan))
        be = tensorc.backends.get_backend(backend)
        cfg = {"threads": threads} if backend == "cpu" else be.space(prog)[0]
        _compiled[key] = prog, be.load(be.build(be.render(prog, cfg), prog, cfg), prog, cfg)
    return _compiled[key]


def _run(prog, exe, backend: str, args: dict, sizes: dict) -> np.ndarray:
    bufs = dict(args)
    for b in (*prog.outputs, *prog.temps):
        shape = tuple(int(sympy.sympify(d).subs({s: sizes[str(s)] for s in sympy.sympify(d).free_symbols}))
                      for d in b.shape)  # fmt: skip
        bufs[b.name] = np.zeros(shape, to_numpy(b.dtype))
    if backend == "triton":
        import torch

        bufs = {k: torch.from_numpy(v) for k, v in bufs.items()}
    exe(bufs, sizes)
    (out,) = prog.outputs
    return np.asarray(bufs[out.name])


def _case(name: str, n: int, m: int, seed: int = 0):
    rng = np.random.default_rng(seed + 31 * n + m)
    args = {"a": rng.random((n, m), dtype=np.float32)}
    if name in WITH_V:
        args["v"] = rng.standard_normal((m, 2)).astype(np.float32)
    sizes = {"N": n, "M": m} | ({"E": 2} if name in WITH_V else {})
    return args, sizes


def _check(name: str, backend: str, split: int, sizes_list) -> None:
    prog, exe = _compile(name, backend, split)
    assert any(n.startswith("split-j:") for n in prog.notes), f"{name} was not split"
    for n, m in sizes_list:
        if name in ("km", "akm") and m < 3:
            continue
        args, sizes = _case(name, n, m)
        want = np.asarray(getattr(_interp, name)(*args.values()))
        got = _run(prog, exe, backend, args, sizes).reshape(want.shape)
        if want.dtype.kind == "i":
            np.testing.assert_array_equal(got, want, err_msg=f"{name} N={n} M={m}")
        else:
            np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-6, err_msg=f"{name} N={n} M={m}")


@pytest.mark.parametrize("backend,split", [("loops", 5), ("cpu", 5), ("cpu", 64)])
@pytest.mark.parametrize("name", NAMES)
def test_split_matches_interpreter(name, backend, split):
    require_backend(backend)
    _check(name, backend, split, SIZES)


@pytest.mark.parametrize("name", NAMES)
def test_split_on_triton_interpreter(name):
    require_backend("triton")
    _check(name, "triton", 5, [(3, 13), (2, 0)])


@pytest.mark.parametrize("backend", ["loops", "cpu", "triton"])
@pytest.mark.parametrize("name", ROWS)
def test_one_partial_per_row(name, backend):
    """Automatic split of a multi-index reduction to a scalar: one partial per first index."""
    require_backend(backend)
    prog, _ = _compile(name, backend, 0)
    assert any("one partial per i" in n for n in prog.notes)
    _check(name, backend, 0, SIZES if backend != "triton" else [(3, 13), (2, 0), (0, 4)])


def test_ties_and_infinities():
    """argmin/argkmin ties go to the smallest index across chunks; all -inf stays -inf."""
    a = np.zeros((3, 40), np.float32)
    for name, want in (("amin", np.zeros(3)), ("amin2", 0), ("akm", np.tile([0, 1, 2], (3, 1)))):
        prog, exe = _compile(name, "cpu", 7)
        np.testing.assert_array_equal(_run(prog, exe, "cpu", {"a": a}, {"N": 3, "M": 40}), want)
    a = np.full((3, 40), -np.inf, np.float32)
    a[1, 33] = 2.0
    prog, exe = _compile("lse", "cpu", 7)
    np.testing.assert_array_equal(
        _run(prog, exe, "cpu", {"a": a}, {"N": 3, "M": 40}), [-np.inf, 2.0, -np.inf]
    )


NAN_DEFS = {  # numpy's NaN semantics: the first NaN's index, NaN for max/min
    "amin": lambda a: np.argmin(a, axis=1), "amax": lambda a: np.argmax(a, axis=1),
    "amin2": np.argmin, "rmax": lambda a: np.max(a, axis=1), "rmin": lambda a: np.min(a, axis=1),
    "tmax": np.max,
}  # fmt: skip


def _nan_arrays(n: int, m: int, chunks: int) -> list[np.ndarray]:
    """NaNs where a chunk (of j, or of i for a reduction to a scalar) starts and ends, at the first
    and last element, a whole row of NaNs, two NaNs in one row; and no NaN at all."""
    rng = np.random.default_rng(7)
    starts = [m * c // chunks for c in range(1, chunks) if m * c // chunks < m]
    a = rng.random((n, m), dtype=np.float32)
    out = [a.copy()]
    a[1, starts[1]] = a[2, starts[1] - 1] = a[3, 0] = a[4, m - 1] = np.nan
    a[5] = np.nan
    a[6, [starts[-1], starts[0]]] = np.nan
    out.append(a)
    for i, j in [(0, 0), (n - 1, m - 1), (n * 2 // chunks, 0), (n * 2 // chunks - 1, m - 1)]:
        b = out[0].copy()
        b[i, j] = np.nan
        out.append(b)
    return out


@pytest.mark.parametrize("backend,split", [("loops", 1), ("loops", 5), ("cpu", 1), ("cpu", 5),
                                           ("cpu", 64), ("triton", 1), ("triton", 5)])  # fmt: skip
@pytest.mark.parametrize("name", NAN_DEFS)
def test_nan_follows_numpy_split_or_not(name, backend, split):
    require_backend(backend)
    prog, exe = _compile(name, backend, split)
    assert any(n.startswith("split-j:") for n in prog.notes) == (split > 1)
    n, m = 7, 13
    for a in _nan_arrays(n, m, 5):
        want = NAN_DEFS[name](a)
        np.testing.assert_array_equal(getattr(_interp, name)(a), want)
        got = _run(prog, exe, backend, {"a": a}, {"N": n, "M": m}).reshape(np.shape(want))
        np.testing.assert_array_equal(got, want, err_msg=f"{name} {backend} split {split}\n{a}")


@pytest.mark.parametrize(
    "name,split", [("total", 64), ("lse2", 64), ("amin2", 64), ("ks", 64), ("sm", 64), ("total", 0),
                   ("lse2", 0)],
)  # fmt: skip
def test_same_bits_for_any_thread_count(name, split):
    require_backend("cpu")
    args, sizes = _case(name, 9 if split else 300, 5000, seed=1)
    outs = [_run(*_compile(name, "cpu", split, t), "cpu", args, sizes) for t in (1, 2, 3)]
    for o in outs[1:]:
        assert o.tobytes() == outs[0].tobytes()


@pytest.mark.parametrize("split", [64, 0])
def test_wide_partials_keep_float64(split):
    """A float32 double sum accumulates in float64, partial states included."""
    prog, exe = _compile("total", "cpu", split)
    assert {b.dtype for b in prog.temps} == {"float64"}
    rng = np.random.default_rng(5)
    a = rng.random((700, 900), dtype=np.float32)
    got = _run(prog, exe, "cpu", {"a": a}, {"N": 700, "M": 900})
    np.testing.assert_allclose(float(got), a.astype(np.float64).sum(), rtol=2e-7)


def _split_notes(name: str, sizes: dict, target: str = "cpu", src: str = SRC) -> list[str]:
    def_ = parse_program(src, "<t>").get(name)
    return [n for n in to_loops(def_, target, sizes).notes if n.startswith("split-j:")]


def test_automatic_decision():
    big = {"N": 8, "M": 1_000_000, "E": 2}
    assert _split_notes("ks", big)  # 8 rows, 10^6 terms each
    assert _split_notes("total", {"N": 3000, "M": 3000})  # a scalar
    assert not _split_notes("ks", {"N": 20_000, "M": 20_000, "E": 2})  # enough rows
    assert not _split_notes("ks", {"N": 8, "M": 100, "E": 2})  # too little work
    assert not _split_notes("ks", None)  # sizes unknown: never
    norm = "def norm(float(M) x) -> (s) { s = sum(j: exp(x(j) - max(k: x(k)))) }"
    notes = _split_notes("norm", {"M": 10**6}, src=norm)  # chunks of the sum would redo the max:
    assert len(notes) == 1 and "max over (k)" in notes[0]  # only the max splits
    assert _split_notes("ks", big, "gpu")
    mmd = open_example("w08_mmd.tc")
    notes = _split_notes("mmd2", {"N": 10_000, "M": 10_000, "D": 3}, src=mmd)
    assert len(notes) == 3 and all("one partial per i" in n for n in notes)


def test_gpu_counts_programs_over_every_parallel_level():
    """W4 at the GPU benchmark sizes has B*H*N rows: thousands of programs, so no split (a split
    into 256 chunks would need a multi-GB partial buffer)."""
    w4 = open_example("w04_attention.tc")
    name = parse_program(w4, "<w4>").defs[0].name
    sizes = {"B": 4, "H": 16, "N": 4096, "M": 4096, "D": 128, "E": 128}
    assert not _split_notes(name, sizes, "gpu", src=w4)
    assert _split_notes("ks", {"N": 8, "M": 1_000_000, "E": 2}, "gpu")


def test_schedule_knob_and_explain():
    def_ = run_pipeline(PROGRAM.get("rsum"))
    sizes = {"N": 4, "M": 100_000}
    off = lower(def_, replace(default_schedule(def_, "cpu", sizes), split_j=1))
    assert len(off.kernels) == 1 and not off.temps
    on = lower(def_, replace(default_schedule(def_, "cpu", sizes), split_j=16))
    assert len(on.kernels) == 2 and on.temps[0].shape[0] == 16
    assert len(lower(def_, Schedule()).kernels) == 1  # no sizes: automatic does not split
    text = explain(PROGRAM.get("rsum"), "cpu", sizes)
    assert "split-j:" in text and "64 chunks" in text and "parallel unit" in text


def open_example(name: str) -> str:
    from pathlib import Path

    return (Path(__file__).parents[2] / "examples" / name).read_text()


def test_runtime_splits_by_call_sizes():
    """Through the public API: the call's sizes pick split-j; scratch buffers come from the runtime."""
    backend = "cpu"
    require_backend(backend)
    mod = tensorc.compile(SRC, backend=backend)
    args, _ = _case("ks", 8, 20_000, seed=2)
    np.testing.assert_allclose(mod.ks(*args.values()), _interp.ks(*args.values()), rtol=1e-5)
    assert _split_notes("ks", {"N": 8, "M": 20_000, "E": 2})
    rng = np.random.default_rng(3)
    x, y = rng.random((260, 3), dtype=np.float32), rng.random((270, 3), dtype=np.float32)
    mmd = tensorc.compile(open_example("w08_mmd.tc"), backend=backend).mmd2
    want = tensorc.compile(open_example("w08_mmd.tc"), backend="interp").mmd2(x, y, 8.0)
    np.testing.assert_allclose(mmd(x, y, 8.0), want, rtol=1e-5)
    sizes = {"N": 260, "M": 270, "D": 3}
    assert _split_notes("mmd2", sizes, src=open_example("w08_mmd.tc"))
