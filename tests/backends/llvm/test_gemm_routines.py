"""Gemm routines are shared: kernel modules only declare them, each is compiled once per machine
(object store) and linked once per process, built on a second thread while kernels compile."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from tensorc.backends.llvm import build
from tensorc.backends.llvm.backend import BACKEND
from tensorc.backends.llvm.gemm import blocking, routine_name
from tensorc.backends.llvm.gemm_routines import routine_ir
from workloads import gemm_program

HERE = Path(__file__).resolve().parent
F32 = routine_name(["float32"] * 3, "float32")


def _run(prog, m, n, k, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((1, m, k)).astype(np.float32)
    b = rng.standard_normal((1, k, n)).astype(np.float32)
    c = np.full((1, m, n), np.nan, np.float32)
    BACKEND.compile(prog)({"A": a, "B": b, "C": c}, {})
    np.testing.assert_allclose(c, a @ b, rtol=1e-4, atol=1e-4)


def test_kernel_module_declares_the_routine_only():
    text = BACKEND.render(gemm_program(7, 5, 3))
    assert f'declare void @"{F32}"' in text
    assert "ukernel" not in text and f'define void @"{F32}"' not in text
    routine = routine_ir(F32)
    assert f'define void @"{F32}"' in routine and "tc.ukernel" in routine


def test_routine_built_once_for_several_programs(tmp_path, monkeypatch):
    monkeypatch.setenv("TENSORC_CACHE_DIR", str(tmp_path))
    name = routine_name(["float64"] * 3, "float64")  # a routine no other test links first
    monkeypatch.delitem(build._OBJECTS, name, raising=False)
    monkeypatch.delitem(build._ROUTINES, name, raising=False)
    built = []
    real = build._build_routine
    monkeypatch.setattr(build, "_build_routine", lambda n: built.append(n) or real(n))
    for m, n, k in ((7, 5, 3), (33, 17, 300), (1, 1, 1)):
        prog = gemm_program(m, n, k, dtype="float64")
        rng = np.random.default_rng(m)
        a, b = rng.standard_normal((1, m, k)), rng.standard_normal((1, k, n))
        c = np.zeros((1, m, n))
        BACKEND.compile(prog)({"A": a, "B": b, "C": c}, {})
        np.testing.assert_allclose(c, a @ b, rtol=1e-12, atol=1e-12)
    assert built == [name]
    assert any(p.suffix == ".o" for p in tmp_path.rglob("*"))  # stored for the next process


def test_odd_sizes_through_the_shared_routine():
    for m, n, k in ((1, 1, 1), (13, 37, 257), (97, 16, 6)):
        _run(gemm_program(m, n, k), m, n, k, seed=m)


def test_fresh_process_loads_kernel_and_routine_without_compiling(tmp_path):
    script = textwrap.dedent(f"""
        import sys
        sys.path[:0] = [{str(HERE)!r}]
        import numpy as np
        from workloads import gemm_program
        from tensorc.backends.llvm import build
        from tensorc.backends.llvm.backend import BACKEND
        if sys.argv[1] == "load":
            def no_compile(*args, **kwargs):
                raise AssertionError("compiled instead of loading from the cache")
            build.optimize = no_compile
        a = np.ones((1, 20, 30), np.float32); b = np.ones((1, 30, 10), np.float32)
        c = np.zeros((1, 20, 10), np.float32)
        BACKEND.compile(gemm_program(20, 10, 30))({{"A": a, "B": b, "C": c}}, {{}})
        assert np.allclose(c, 30.0), c
    """)
    env = dict(os.environ, TENSORC_CACHE_DIR=str(tmp_path))
    for mode in ("build", "load"):
        res = subprocess.run([sys.executable, "-c", script, mode], capture_output=True, text=True,
                             env=env, check=False, cwd=str(HERE.parents[2]), timeout=120)
        assert res.returncode == 0, res.stderr


@pytest.mark.parametrize("light", [False, True])
def test_light_pipeline_keeps_hand_vectorised_code(light):
    mod = build.optimize(routine_ir(F32), light=light)
    assert f"llvm.fma.v{blocking('float32')[1]}f32" in str(mod)


def _host_with(avx512: bool) -> tuple[str, str]:
    cpu, features = build.host()
    flags = [f for f in features.split(",") if f and "avx512" not in f]
    return cpu, ",".join([*flags, "+avx512f" if avx512 else "-avx512f"])


@pytest.mark.parametrize("avx512,shape", [(True, (8, 16)), (False, (6, 8))])
def test_micro_kernel_shape_follows_the_host(monkeypatch, avx512, shape):
    """8x32 of <16 x float> with 32 zmm registers, 6x16 of <8 x float> otherwise; the features
    are in every cache key, so an object built for one shape is never loaded for the other."""
    fake = _host_with(avx512)
    real_key = build.cache_key("gemm")
    monkeypatch.setattr(build, "host", lambda: fake)
    assert blocking("float32") == shape and blocking("float64") == (shape[0], shape[1] // 2)
    assert f"llvm.fma.v{shape[1]}f32" in routine_ir(F32)
    assert f"llvm.fma.v{shape[1] // 2}f64" in routine_ir(routine_name(["float64"] * 3, "float64"))
    assert build.cache_key("gemm") != real_key


_SHAPE_SCRIPT = """
import sys
sys.path[:0] = [{here!r}]
import numpy as np
from workloads import gemm_program
from tensorc.backends.llvm import gemm, gemm_routines
from tensorc.backends.llvm.backend import BACKEND
shape = ({mr}, {vw})
pick = lambda compute: shape if compute == "float32" else ({mr}, {vw} // 2)
gemm.blocking = gemm_routines.blocking = pick
assert "llvm.fma.v{vw}f32" in gemm_routines.routine_ir("tc.gemm.float32.float32.float32.float32")
rng = np.random.default_rng(0)
cases = [(1, 1, 1, 1), (7, 33, 5, 2), (97, 50, 300, 1), (200, 70, 257, 2), (9, 3, 40, 2),
         (25, 64, 31, 1), (130, 96, 17, 3)]
for m, n, k, batch in cases:
    a = rng.standard_normal((batch, m, k)).astype(np.float32)
    b = rng.standard_normal((batch, k, n)).astype(np.float32)
    want = 1 + 0.5 * np.matmul(a.astype(np.float64), b.astype(np.float64))
    got = []
    for threads in (1, 3):
        c = np.ones((batch, m, n), np.float32)
        prog = gemm_program(m, n, k, batch=batch, accumulate=True, alpha=0.5)
        BACKEND.compile(prog, {{"threads": threads}})({{"A": a, "B": b, "C": c}}, {{}})
        np.testing.assert_allclose(c, want, rtol=1e-4, atol=1e-4 * np.sqrt(k))
        got.append(c.tobytes())
    assert got[0] == got[1], (m, n, k)
    c = np.full((batch, n, m), np.nan, np.float32)  # C transposed: the write-back's edge path
    at = np.ascontiguousarray(a.transpose(0, 2, 1))
    BACKEND.compile(gemm_program(n, m, k, batch=batch, trans_a=False, trans_b=True))(
        {{"A": b.transpose(0, 2, 1).copy(), "B": a.copy(), "C": c}}, {{}})
    np.testing.assert_allclose(c, np.matmul(b.transpose(0, 2, 1), at), rtol=1e-4,
                               atol=1e-4 * np.sqrt(k))
for m, n, k in ((1, 1, 1), (29, 37, 300), (130, 70, 9)):
    a, b = rng.standard_normal((1, m, k)), rng.standard_normal((1, k, n))
    c = np.ones((1, m, n))
    prog = gemm_program(m, n, k, dtype="float64", accumulate=True, alpha=0.5)
    BACKEND.compile(prog, {{"threads": 2}})({{"A": a, "B": b, "C": c}}, {{}})
    np.testing.assert_allclose(c, 1 + 0.5 * a @ b, rtol=1e-12, atol=1e-12 * np.sqrt(k))
print("ok")
"""


@pytest.mark.parametrize("mr,vw", [(6, 8), (8, 16)])
def test_both_micro_kernel_shapes_against_numpy(tmp_path, mr, vw):
    """Either host's shapes, forced on this one (in a fresh process and cache, as a routine is
    linked once per process), float32 and float64: edges in m, n and k, k past a KC block, few
    rows (B in place), narrow n (dot products), batches, accumulate with alpha, and the same
    bits for 1 or 3 threads (rows are cut at multiples of MR)."""
    script = _SHAPE_SCRIPT.format(here=str(HERE), mr=mr, vw=vw)
    env = dict(os.environ, TENSORC_CACHE_DIR=str(tmp_path))
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env,
                         check=False, cwd=str(HERE.parents[2]), timeout=300)
    assert res.returncode == 0 and "ok" in res.stdout, res.stderr[-3000:]


# --- narrow Gemms (n <= DOT_N, A contiguous along k): dot products instead of 16-wide panels ----
@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("m,k", [(1, 1), (7, 8), (13, 9), (29, 300), (3, 600)])
@pytest.mark.parametrize("trans_a", [False, True])
def test_narrow_gemm_against_numpy(n, m, k, trans_a):
    """k past one KC block (256) and off the vector width; trans_a takes the packed path."""
    rng = np.random.default_rng(m * 100 + n * 10 + k)
    batch = 2
    a = rng.standard_normal((batch, k, m) if trans_a else (batch, m, k)).astype(np.float32)
    b = rng.standard_normal((batch, k, n)).astype(np.float32)
    c = np.ones((batch, m, n), np.float32)
    prog = gemm_program(m, n, k, batch=batch, trans_a=trans_a, accumulate=True, alpha=0.5)
    BACKEND.compile(prog, {"threads": 2})({"A": a, "B": b, "C": c}, {})
    op_a = a.transpose(0, 2, 1) if trans_a else a
    want = 1 + 0.5 * np.matmul(op_a.astype(np.float64), b.astype(np.float64))
    np.testing.assert_allclose(c, want, rtol=1e-4, atol=1e-4 * np.sqrt(k))


@pytest.mark.parametrize("dtype", ["float64", "float16"])
def test_narrow_gemm_other_dtypes(dtype):
    rng = np.random.default_rng(5)
    m, n, k = 11, 3, 37
    a = rng.integers(-3, 4, (1, m, k)).astype(dtype)
    b = rng.integers(-3, 4, (1, k, n)).astype(dtype)
    c = np.full((1, m, n), np.nan, dtype)
    BACKEND.compile(gemm_program(m, n, k, dtype=dtype))({"A": a, "B": b, "C": c}, {})
    np.testing.assert_array_equal(c, np.matmul(a.astype(np.float64), b.astype(np.float64)))


def test_narrow_gemm_same_bits_for_any_thread_count():
    rng = np.random.default_rng(6)
    m, n, k = 101, 4, 70
    a = rng.standard_normal((1, m, k)).astype(np.float32)
    b = rng.standard_normal((1, k, n)).astype(np.float32)
    got = []
    for threads in (1, 2, 3):
        c = np.full((1, m, n), np.nan, np.float32)
        BACKEND.compile(gemm_program(m, n, k), {"threads": threads})({"A": a, "B": b, "C": c}, {})
        got.append(c)
    np.testing.assert_allclose(got[0], a @ b, rtol=1e-4, atol=1e-4)
    assert got[0].tobytes() == got[1].tobytes() == got[2].tobytes()


@pytest.mark.parametrize("m", [1, 6, 7, 24, 25])
def test_few_rows_read_b_in_place(m):
    """m <= IN_PLACE_B_ROWS: full NR-column panels of B are read where they are, the edge panel
    (n = 50) is packed; two k blocks, two batches, accumulating."""
    rng = np.random.default_rng(m)
    batch, n, k = 2, 50, 300
    a = rng.standard_normal((batch, m, k)).astype(np.float32)
    b = rng.standard_normal((batch, k, n)).astype(np.float32)
    c = np.ones((batch, m, n), np.float32)
    prog = gemm_program(m, n, k, batch=batch, accumulate=True, alpha=0.5)
    BACKEND.compile(prog, {"threads": 2})({"A": a, "B": b, "C": c}, {})
    want = 1 + 0.5 * np.matmul(a.astype(np.float64), b.astype(np.float64))
    np.testing.assert_allclose(c, want, rtol=1e-4, atol=1e-4 * np.sqrt(k))
