"""Memory safety (issue 13): no kernel reads or writes outside an array, and user mistakes that used
to escape as OverflowError / MemoryError / NaN are tensorc errors or the interpreter's values.

Every out-of-bounds case runs in a child process on each backend (cpu, loops, interp, and triton
through TRITON_INTERPRET=1 when it is available): a segfault fails the test instead of killing the
run. The child prints one line per backend: `ERROR <class> <message>` or `OK <values>`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import sympy

import tensorc
from tensorc.errors import ArgumentValueError, ShapeError
from tensorc.ir import index_bounds, obligations
from tensorc.runtime import bounds

_CHILD = textwrap.dedent(
    """
    import json, sys, numpy as np, tensorc
    cases, backends = json.loads(sys.argv[1])
    for n, case in enumerate(cases):
        for backend in backends:
            try:
                mod = tensorc.compile(case["src"], backend=backend)
                args = [np.asarray(a[0], dtype=a[1]).reshape(a[2:] and a[2] or np.shape(a[0]))
                        if a[1] else a[0] for a in case["args"]]  # [value, dtype(, shape)]
                out = getattr(mod, case["fn"])(*args)
                print(n, "OK", backend, json.dumps(np.asarray(out).tolist()), flush=True)
            except tensorc.errors.TensorcError as err:
                print(n, "ERROR", backend, type(err).__name__, json.dumps(str(err)), flush=True)
    """
)


def _backends() -> list[str]:
    names = ["interp", "loops", "cpu"]
    if tensorc.backends.get_backend("triton").available():
        names.append("triton")
    return names


def run_many(cases: list[tuple[str, list]], fn: str = "f") -> list[dict[str, tuple[str, str]]]:
    """Run `fn(*args)` of each (src, args) on every backend, all in one child process (a crash
    fails the test, not the run); per case: backend -> (kind, text)."""
    todo = [{"src": src, "fn": fn, "args": args} for src, args in cases]
    env = dict(os.environ, TRITON_INTERPRET="1")
    proc = subprocess.run([sys.executable, "-c", _CHILD, json.dumps([todo, _backends()])],
                          capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, f"child died with {proc.returncode}:\n{proc.stderr[-3000:]}"
    results: list[dict] = [{} for _ in cases]
    for line in proc.stdout.splitlines():
        n, kind, backend, rest = line.split(" ", 3)
        results[int(n)][backend] = (kind, rest)
    for r in results:
        assert set(r) == set(_backends()), proc.stdout + proc.stderr[-3000:]
    return results


def run_child(src: str, args: list, fn: str = "f") -> dict[str, tuple[str, str]]:
    """`run_many` of one case."""
    return run_many([(src, args)], fn)[0]


def assert_all_raise(results: dict, error: str, *words: str) -> None:
    for backend, (kind, rest) in results.items():
        assert kind == "ERROR", f"{backend} returned {rest}"
        cls, message = rest.split(" ", 1)
        message = json.loads(message)
        if backend != "interp":  # the interpreter's own checks word it differently
            assert cls == error, f"{backend}: {cls}: {message}"
            for w in words:
                assert w in message, f"{backend}: {w!r} not in {message}"


GATHER = "def f(float(E,W) T, int32(L) idx) -> (O) { O(l, w) = T(idx(l), w) }"
TABLE = [[float(3 * e + w) for w in range(3)] for e in range(4)]  # E = 4, W = 3


def test_gather_with_a_bad_index_raises_naming_the_tensor_value_and_range():
    bad = [4, -1, 2**31 - 1, -(2**31)]
    runs = run_many([(GATHER, [[TABLE, "float32"], [[0, v, 2], "int32"]]) for v in bad])
    for v, results in zip(bad, runs):
        assert_all_raise(results, "ShapeError", "index tensor idx holds", str(v), "position (1,)",
                         "0:4", "<string>:1:")


def test_gather_int64_index_beyond_int32_and_an_offset_read():
    src = "def f(float(E,W) T, int64(L) idx) -> (O) { O(l, w) = T(idx(l) + 1, w) }"
    huge, edge = run_many([(src, [[TABLE, "float32"], [[0, 2**40], "int64"]]),
                           (src, [[TABLE, "float32"], [[0, 3], "int64"]])])  # 3 + 1 == E
    assert_all_raise(huge, "ShapeError", "idx", str(2**40), "0:4")
    assert_all_raise(edge, "ShapeError", "idx(l) + 1", "holds 3", "0:4")


def test_gather_through_a_2d_index_tensor_reports_the_position():
    src = "def f(float(E,W) T, int32(L,K) idx) -> (O) { O(l, k, w) = T(idx(l, k), w) }"
    results = run_child(src, [[TABLE, "float32"], [[[0, 1, 2], [3, 7, 0]], "int32"]])
    assert_all_raise(results, "ShapeError", "holds 7 at position (1, 1)")


def test_a_gather_in_a_masked_statement_is_checked_unless_the_mask_can_guard_it():
    # `w < 2` cannot keep T(idx(l), w) from reading row idx(l): checked (the interpreter clips)
    masked = "def f(float(E,W) T, int64(L) idx) -> (O) { O(l, w) = T(idx(l), w) where w < 2 }"
    # a condition on idx(l) guards it: -1 is padding, as in the interpreter
    padded = "def f(float(E,W) T, int64(L) idx) -> (O) { O(l, w) = idx(l) >= 0 ? T(idx(l), w) : 0 }"
    bad, results = run_many([(masked, [[TABLE, "float32"], [[0, 2**62, 2], "int64"]]),
                             (padded, [[TABLE, "float32"], [[3, -1, 0], "int64"]])])
    for backend, (kind, rest) in bad.items():
        assert kind == "ERROR" and "holds 4611686018427387904" in rest, f"{backend}: {rest}"
    for backend, (kind, rest) in results.items():
        assert kind == "OK" and json.loads(rest) == [TABLE[3], [0, 0, 0], TABLE[0]], backend


def test_a_gather_through_an_argmin_of_an_empty_domain_is_an_error():
    src = """def f(float(N,D) x, float(M,D) y) -> (O) {
        nn(i) = argmin(j: sum(d: (x(i,d) - y(j,d)) * (x(i,d) - y(j,d))))
        O(i, d) = y(nn(i), d)
    }"""
    x = [[0.0, 0.0], [5.0, 5.0]]
    empty, results = run_many([(src, [[x, "float32"], [[], "float32", [0, 2]]]),  # M = 0 rows
                               (src, [[x, "float32"], [[[4.0, 4.0], [1.0, 0.0]], "float32"]])])
    assert_all_raise(empty, "ShapeError", "read of y", "nn(i)", "-1..-1", "M = 0")
    for backend, (kind, rest) in results.items():
        assert kind == "OK" and json.loads(rest) == [[1, 0], [4, 4]], f"{backend}: {rest}"


def test_an_argmin_used_as_an_index_is_bounded_by_its_extent():
    src = "def f(float(N,M) x, float(K,D) y) -> (O) { O(i, d) = y(argmin(j: x(i, j)), d) }"
    x = [[1.0, 0.0, 1.0], [1.0, 1.0, 0.0]]
    y2, y3 = [[0.0, 1.0], [2.0, 3.0]], [[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]
    short, results = run_many([(src, [[x, "float32"], [y2, "float32"]]),  # K = 2 < M
                               (src, [[x, "float32"], [y3, "float32"]])])
    assert_all_raise(short, "ShapeError", "read of y", "argmin(j: x(i, j))", "0..2", "size 2")
    for backend, (kind, rest) in results.items():
        assert kind == "OK" and json.loads(rest) == [[2, 3], [4, 5]], f"{backend}: {rest}"


def test_an_unguarded_read_through_a_masked_argmax_is_an_error_with_the_fix():
    src = """def f(float(N,M) x, float(M,D) y) -> (O) {
        nn(i) = argmax(j: x(i,j)) where x(i,j) > 100
        O(i, d) = y(nn(i), d)
    }"""
    x = [[1.0, 200.0, 1.0], [1.0, 1.0, 1.0]]  # row 1: no candidate, nn = -1
    y = [[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]
    guarded = src.replace("y(nn(i), d)", "nn(i) >= 0 ? y(nn(i), d) : 0")
    bad, results = run_many([(src, [[x, "float32"], [y, "float32"]]),
                             (guarded, [[x, "float32"], [y, "float32"]])])
    assert_all_raise(bad, "ShapeError", "nn(i)", "-1..2", "guard the read")
    for backend, (kind, rest) in results.items():
        assert kind == "OK" and json.loads(rest) == [[2, 3], [0, 0]], f"{backend}: {rest}"


def test_a_gather_through_a_computed_index_is_checked_through_its_inputs():
    src = """def f(float(E,W) T, int64(L) idx) -> (O) {
        j(l) = idx(l) * 2
        O(l, w) = T(j(l), w)
    }"""
    bad, results = run_many([(src, [[TABLE, "float32"], [[0, 2, 1], "int64"]]),
                             (src, [[TABLE, "float32"], [[0, 1], "int64"]])])
    assert_all_raise(bad, "ShapeError", "index tensor idx holds 2 at position (1,)", "j(l)")
    for backend, (kind, rest) in results.items():
        assert kind == "OK" and json.loads(rest) == [TABLE[0], TABLE[2]], f"{backend}: {rest}"


def test_a_float_index_is_checked_by_its_truncated_values_and_nan_is_bad():
    src = "def f(float(E) T, float(L) x) -> (O) { O(l) = T(int32(x(l))) }"
    table = [0.0, 1.0, 2.0, 3.0]
    bad = ((7.0, "holds 7.0"), (float("nan"), "holds nan"), (-1.0, "holds -1.0"))
    *runs, results = run_many([(src, [[table, "float32"], [[1.5, v], "float32"]]) for v, _ in bad]
                              + [(src, [[table, "float32"], [[1.5, 3.9, -0.5], "float32"]])])
    for (_, text), run in zip(bad, runs):
        assert_all_raise(run, "ShapeError", text, "position (1,)")
    for backend, (kind, rest) in results.items():
        assert kind == "OK" and json.loads(rest) == [1, 3, 0], f"{backend}: {rest}"


def test_valid_gathers_agree_with_the_interpreter():
    results = run_child(GATHER, [[TABLE, "float32"], [[3, 0, 3], "int32"]])
    want = [TABLE[3], TABLE[0], TABLE[3]]
    for backend, (kind, rest) in results.items():
        assert kind == "OK", f"{backend}: {rest}"
        assert json.loads(rest) == want, backend


def test_the_issues_affine_programs_never_run_out_of_bounds():
    """Issue 13's programs: the front end now rejects them; whichever layer does, every backend
    must raise a tensorc ShapeError naming A, never touch memory."""
    srcs = ["def f(float(N) A) -> (float(2*N) B) { B(i) = A(i) }",
            "def f(float(N) A) -> (float(N) B) { B(i) = A(i + N) where i in 0:N }",
            "def f(float(N) A) -> (float(N) B) { B(i) = A(i) where i in 0-5:N }"]
    for src, results in zip(srcs, run_many([(src, [[[1.0] * 5, "float32"]]) for src in srcs])):
        for backend, (kind, rest) in results.items():
            assert kind == "ERROR" and "ShapeError" in rest and "A" in rest, f"{src} {backend}"


def test_a_lower_bound_of_2_to_the_64_is_an_error_not_a_wrap():
    src = "def f(float(N) A) -> (float(N) B) { B(i) = A(i) where i in 18446744073709551616:N }"
    results = run_child(src, [[[1.0] * 5, "float32"]])
    for backend, (kind, rest) in results.items():
        assert kind == "ERROR" and "ShapeError" in rest and "2**62" in rest, f"{backend}: {rest}"


def test_a_negative_lower_bound_from_a_scalar_parameter_writes_nothing_in_front_of_b():
    src = "def f(float(N) A, int32 S) -> (float(N) B) { B(i) = A(i) where i in S:N }"
    bad, results = run_many([(src, [[[1.0] * 5, "float32"], [-3, None]]),
                             (src, [[[1.0] * 5, "float32"], [2, None]])])
    assert_all_raise(bad, "ShapeError", "writes B", "-3:5", "size 5", "S = -3")
    for backend, (kind, rest) in results.items():
        assert kind == "OK" and json.loads(rest) == [0, 0, 1, 1, 1], f"{backend}: {rest}"


def test_a_scalar_parameter_that_widens_a_range_past_the_input_is_caught():
    # the front end proves `A(i + W)` in bounds for i in 0:N-W assuming W >= 0; W = -2 is not
    src = "def f(float(N) A, int32 W) -> (float(N) B) { B(i) = A(i + W) where i in 0:N-W }"
    bad, results = run_many([(src, [[[1.0] * 5, "float32"], [-2, None]]),
                             (src, [[[1.0, 2.0, 3.0, 4.0, 5.0], "float32"], [2, None]])])
    assert_all_raise(bad, "ShapeError", "B", "W = -2")
    for backend, (kind, rest) in results.items():
        assert kind == "OK" and json.loads(rest) == [3, 4, 5, 0, 0], f"{backend}: {rest}"


def test_huge_k_in_argkmin_is_a_tensorc_error():
    ks = (10**7, 10**11)
    pts = [[0.0, 1.0], [1.0, 0.0], [2.0, 2.0]]
    srcs = [f"def f(float(N,D) x, float(M,D) y) -> (idx) {{ idx(i, r) = argkmin(j: "
            f"sum(d: (x(i,d) - y(j,d)) * (x(i,d) - y(j,d))), {k}) }}" for k in ks]
    runs = run_many([(src, [[pts, "float32"], [pts, "float32"]]) for src in srcs])
    for k, results in zip(ks, runs):
        for backend, (kind, rest) in results.items():
            assert kind == "ERROR" and "ShapeError" in rest and str(k) in rest, f"{backend}: {rest}"


def test_an_output_larger_than_memory_is_an_error_before_allocating():
    src = "def f(float(N) A, int64 S) -> (B) { B(i, j) = A(i) where j in 0:S }"
    results = run_child(src, [[[1.0] * 4, "float32"], [2**60, None]])
    for backend, (kind, rest) in results.items():
        assert kind == "ERROR" and "ShapeError" in rest and "memory" in rest, f"{backend}: {rest}"


# --- in process: checks that cannot crash ---------------------------------------------------------


@pytest.mark.parametrize("backend", ["interp", "loops", "cpu"])
def test_int32_scalar_of_2_to_the_40_names_the_argument(backend):
    mod = tensorc.compile("def f(float(N) A, int32 S) -> (B) { B(i) = A(i) * S }", backend=backend)
    with pytest.raises(ArgumentValueError, match=r"argument 'S': 1099511627776 does not fit int32"):
        mod.f(np.ones(3, np.float32), 2**40)
    with pytest.raises(ArgumentValueError, match="uint8"):
        tensorc.compile("def g(float(N) A, uint8 S) -> (B) { B(i) = A(i) * S }",
                        backend=backend).g(np.ones(3, np.float32), -1)
    np.testing.assert_allclose(mod.f(np.ones(3, np.float32), 2**31 - 1), [2**31 - 1] * 3, rtol=1e-7)


def test_conv_and_maxpool_bounds_are_checked_per_size_and_pass():
    mod = tensorc.load("examples/w10_tc_classics.tc", backend="cpu")
    rng = np.random.default_rng(0)
    img = rng.random((1, 2, 7, 6), dtype=np.float32)
    w = rng.random((3, 2, 3, 2), dtype=np.float32)
    got = mod.conv_strided(img, w)
    ref = tensorc.load("examples/w10_tc_classics.tc", backend="interp").conv_strided(img, w)
    np.testing.assert_allclose(got, ref, rtol=1e-5)
    assert mod.maxpool(img).shape == (1, 2, 3, 3)


def test_analysis_proves_plain_accesses_and_keeps_only_size_dependent_ones():
    prog = tensorc.compile(open("examples/w10_tc_classics.tc").read()).program
    softmax = obligations.analyse(prog.get("softmax"))
    assert not [ob for ob in softmax.fixed if ob.kind != "range"] and not softmax.gathered
    gather = obligations.analyse(prog.get("gather"))
    assert [(ob.kind, ob.tensor) for ob in gather.gathered] == [("read", "T")]
    for name in ("conv_strided", "maxpool", "group_norm"):  # floor(y) <= y proves the windows
        assert not obligations.analyse(prog.get(name)).fixed, name
    shifted = tensorc.compile("def f(float(N) A, int32 S) -> (float(N) B) "
                              "{ B(i) = A(i) where i in S:N }").program.get("f")
    assert {ob.kind for ob in obligations.analyse(shifted).fixed} == {"write", "read", "range"}


def test_compiled_bounds_evaluate_exactly():
    h, k = sympy.symbols("H KH", integer=True, nonnegative=True)
    g = sympy.Symbol("g", integer=True)
    exprs = [sympy.floor(h / 2 - k / 2) + 1, sympy.Min(0, g - 1, evaluate=False),
             sympy.Mod(h + g, 3), h**2 * k, sympy.Max(h, k) - sympy.Rational(1, 3)]
    values = index_bounds.compile_exprs([h, k, g], exprs)(7, 2, -5)
    assert values == [3, -6, 2, 98, sympy.Rational(20, 3)]
    big = 2**64 + 1  # exact beyond float precision
    assert index_bounds.compile_exprs([h], [sympy.floor(h / 2)])(big) == [2**63]


def test_check_reports_the_sizes_and_the_source_position():
    d = tensorc.compile(GATHER, file="g.tc").program.get("f")
    guard = bounds.check(d, {"E": 4, "W": 3, "L": 2}, [(4, 3), (2,)])
    guard({"T": np.zeros((4, 3), np.float32), "idx": np.array([1, 2], np.int32)})
    with pytest.raises(ShapeError, match=r"g.tc:1:\d+: error: index tensor idx holds 9"):
        guard({"T": np.zeros((4, 3), np.float32), "idx": np.array([1, 9], np.int32)})


def test_a_shifted_gather_passes_on_exact_bounds_and_fails_at_the_edge():
    """The per-call check bounds index values by 0..unsigned max first; `idx(l) - 1` needs the
    exact minimum (1 here) to pass."""
    src = "def f(float(E,W) T, int64(L) idx) -> (O) { O(l, w) = T(idx(l) - 1, w) }"
    d = tensorc.compile(src).program.get("f")
    guard = bounds.check(d, {"E": 4, "W": 3, "L": 3}, [(4, 3), (3,)])
    table = np.zeros((4, 3), np.float32)
    guard({"T": table, "idx": np.array([1, 4, 2])})
    with pytest.raises(ShapeError, match=r"holds 0 at position \(2,\)"):
        guard({"T": table, "idx": np.array([1, 4, 0])})
    with pytest.raises(ShapeError, match=r"holds 5 at position \(0,\)"):
        guard({"T": table, "idx": np.array([5, 4, 1])})


def test_subnormal_denominator_keeps_the_interpreters_result():
    """sigma = 1e-20: 2 sigma^2 is subnormal in float32; its reciprocal overflows, so a folded
    x * (1/c) turns exp(-0 / c) = 1 into exp(NaN)."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((16, 3)).astype(np.float32)
    b = rng.random((16, 2), dtype=np.float32)
    want = tensorc.load("examples/w01_gauss_ksum.tc", backend="interp").gauss_ksum(x, x, b, 1e-20)
    for backend in [n for n in _backends() if n in ("cpu", "triton")]:
        got = tensorc.load("examples/w01_gauss_ksum.tc", backend=backend).gauss_ksum(x, x, b, 1e-20)
        np.testing.assert_allclose(got, want, rtol=1e-5, err_msg=backend)
    src = "def f(float(N) A, float s) -> (B) { B(i) = A(i) / s }"
    a = np.array([1e-5, 3.0, 0.0, -2e-30], np.float32)
    want = tensorc.compile(src, backend="interp").f(a, 1e-40)
    got = tensorc.compile(src, backend="cpu").f(a, 1e-40)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    src = "def g(float(N,M) A, float s) -> (B) { B(i) = sum(j: A(i, j) / s) }"  # a fast loop
    a = np.full((3, 16), 1e-5, np.float32)
    want = tensorc.compile(src, backend="interp").g(a, 1e-40)
    got = tensorc.compile(src, backend="cpu").g(a, 1e-40)
    assert np.isfinite(want).all()
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_tune_checks_index_tensors_before_any_candidate_runs():
    """A candidate never reads outside an array: tune runs the call's bounds check first."""
    import numpy as np

    import tensorc
    from tensorc.errors import ShapeError

    mod = tensorc.compile("def g(float(E,W) T, int32(L) idx) -> (o) { o(l, w) = T(idx(l), w) }")
    with pytest.raises(ShapeError, match="idx"):
        tensorc.tune(mod.g, np.ones((4, 3), np.float32), np.array([0, 4], np.int32),
                     budget=0.05, progress=False)
