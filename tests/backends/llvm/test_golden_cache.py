"""Golden LLVM IR for small kernels (TENSORC_ACCEPT_GOLDEN=1 rewrites) and the object cache."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from loopbuild import V, add, buf, c, call, ld, loop, program, store
from tensorc.backends.llvm import build
from tensorc.backends.llvm.backend import BACKEND
from workloads import gauss_ksum, nn_argmin

from tensorc.cache import store as kernel_store

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "llvm"
HERE = Path(__file__).resolve().parent


def _axpy_bf16():
    return program("axpy_bf16", [buf("x", "bfloat16", ("N",)), buf("y", "float16", ("N",))],
                   [buf("out", "bfloat16", ("N",), "output")], ["N"],
                   [loop("i", 0, V("N"), [store("out", [V("i")], add(
                       call("mul", ld("x", [V("i")], "bfloat16"), c(2.0, "bfloat16")),
                       ld("y", [V("i")], "float16"), ))], kind="vector")])


def _int_floordiv():
    return program("floordiv_i32", [buf("a", "int32", ("N",)), buf("b", "int32", ("N",))],
                   [buf("q", "int32", ("N",), "output")], ["N"],
                   [loop("i", 0, V("N"), [store("q", [V("i")], call(
                       "floordiv", ld("a", [V("i")], "int32"), ld("b", [V("i")], "int32")))],
                         kind="parallel")])


CASES = {"axpy_bf16": _axpy_bf16, "floordiv_i32": _int_floordiv,
         "gauss_ksum_d3": lambda: gauss_ksum(3), "nn_argmin": nn_argmin}


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_llvm_ir(name):
    text = BACKEND.render(CASES[name]())
    assert text == BACKEND.render(CASES[name]()), "render must be deterministic"
    path = GOLDEN / f"{name}.ll"
    if os.environ.get("TENSORC_ACCEPT_GOLDEN") == "1" or not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert text == path.read_text(), f"{path} changed; rerun with TENSORC_ACCEPT_GOLDEN=1"


def test_cache_round_trip_corruption_and_fresh_process(tmp_path, monkeypatch):
    monkeypatch.setenv("TENSORC_CACHE_DIR", str(tmp_path))
    prog = gauss_ksum(3)
    text = BACKEND.render(prog)
    obj = build.compile_ir(text)
    key = build.cache_key(text)
    path = kernel_store._path("llvm", key, ".o")
    assert path.exists() and kernel_store.read("llvm", key, ".o") == obj
    # a corrupt file is detected and rebuilt
    path.write_bytes(path.read_bytes()[:-10] + b"0123456789")
    assert kernel_store.read("llvm", key, ".o") is None
    assert build.compile_ir(text) == obj and kernel_store.read("llvm", key, ".o") == obj
    # a fresh process loads from the cache without compiling, and the kernel runs
    script = textwrap.dedent(f"""
        import sys, time
        t0 = time.perf_counter()
        sys.path[:0] = [{str(HERE)!r}]
        import numpy as np
        from workloads import gauss_ksum, gauss_ksum_ref
        from tensorc.backends.llvm import build
        from tensorc.backends.llvm.backend import BACKEND
        t1 = time.perf_counter()
        def no_compile(text):
            raise AssertionError("compiled instead of loading from the cache")
        build.optimize = no_compile
        prog = gauss_ksum(3)
        exe = BACKEND.compile(prog)
        t2 = time.perf_counter()
        x = np.ones((4, 3), np.float32); out = np.zeros((4, 1), np.float32)
        exe({{"x": x, "y": x, "b": np.ones((4, 1), np.float32), "sigma": 1.0, "out": out}},
            {{"N": 4, "M": 4, "D": 3}})
        assert np.allclose(out, 4.0), out
        print(f"imports {{(t1 - t0) * 1e3:.1f}} ms, render+cached load {{(t2 - t1) * 1e3:.1f}} ms")
    """)
    env = dict(os.environ, TENSORC_CACHE_DIR=str(tmp_path))
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=False,
                         cwd=str(HERE.parents[2]), timeout=120)
    assert res.returncode == 0, res.stderr
    print(res.stdout)
