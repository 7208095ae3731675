"""Every def of every workload in examples/ runs on every backend and matches numpy.

The references (references.py) are hand-written dense numpy in float64; the kernels run in
float32, so results are compared with rtol 1e-4 (plus an absolute floor scaled to the output's
magnitude, for entries that cancel to ~0). A backend is skipped only when it reports itself
unavailable, with the reason in the skip message.
"""

from __future__ import annotations

import pathlib
import subprocess
import sys

import numpy as np
import pytest
from support import BACKENDS, compiled, load_sibling, require_backend

HERE = pathlib.Path(__file__).resolve().parent


wc = load_sibling(__file__, "workload_cases")
ref = wc.ref

tensorc = pytest.importorskip("tensorc")

RTOL = 1e-4

def load(file: str, backend: str):
    return compiled(wc.EXAMPLES / file, backend)


def as_tuple(out, n: int) -> tuple:
    if n == 1:
        assert not isinstance(out, tuple), f"one declared output must come back bare, got {out!r}"
        return (out,)
    assert isinstance(out, tuple) and len(out) == n, f"expected a tuple of {n} outputs"
    return out


def assert_close(got, want, what: str = "") -> None:
    got = np.asarray(got)
    want = np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != reference {want.shape}"
    if want.dtype.kind in "iub":
        assert got.dtype.kind in "iu", f"{what}: integer result expected, got {got.dtype}"
        np.testing.assert_array_equal(got, want, err_msg=what)
        return
    assert got.dtype == np.float32, f"{what}: float32 inputs should give float32, got {got.dtype}"
    scale = max(1.0, float(np.max(np.abs(want)))) if want.size else 1.0
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=1e-5 * scale, err_msg=what)


def assert_knn(got, x, y, what: str) -> None:
    """Indices are right if the distances they pick are the k smallest, nearest first; and they
    equal the reference indices wherever the reference's distances have no near-tie."""
    d = ref._sqdist(x.astype(np.float64), y.astype(np.float64))
    got = np.asarray(got)
    assert got.dtype == np.int64, f"{what}: arg reductions return int64, got {got.dtype}"
    k = 1 if got.ndim == 1 else got.shape[1]
    want = np.argsort(d, axis=1, kind="stable")[:, :k]
    got2 = got.reshape(len(d), k)
    assert got2.shape == want.shape
    assert np.all((got2 >= 0) & (got2 < d.shape[1])), f"{what}: index out of range: {got2}"
    picked = np.take_along_axis(d, got2, axis=1)
    best = np.take_along_axis(d, want, axis=1)
    np.testing.assert_allclose(picked, best, rtol=RTOL, atol=1e-5, err_msg=what)
    sorted_d = np.sort(d, axis=1)
    gaps = np.diff(sorted_d[:, : min(k + 1, d.shape[1])], axis=1)
    clear = np.ones_like(want, dtype=bool)
    if gaps.size:
        sep = gaps > 1e-3 * np.maximum(1.0, sorted_d[:, :1])
        clear[:, : sep.shape[1]] &= sep
        if k > 1:
            clear[:, 1:] &= sep[:, : k - 1]
    np.testing.assert_array_equal(got2[clear], want[clear], err_msg=what)


# (case id, backend or None for all, profile or None for all) -> reason: known bugs elsewhere in the compiler, as
# xfail(strict=True) so the test flips (and the entry must go) when the bug is fixed.
KNOWN_BUGS: dict[tuple[str, str | None, str | None], str] = {}


def known_bug(case_id: str, backend: str, profile: str) -> str | None:
    for key in ((case_id, backend, profile), (case_id, backend, None), (case_id, None, None)):
        if key in KNOWN_BUGS:
            return KNOWN_BUGS[key]
    return None


def _params():
    for case in wc.CASES:
        for profile in wc.PROFILES:
            for backend in BACKENDS:
                marks = []
                reason = known_bug(case.id, backend, profile)
                if reason:
                    marks.append(pytest.mark.xfail(strict=True, reason=reason))
                yield pytest.param(
                    case, profile, backend, marks=marks, id=f"{case.id}-{profile}-{backend}"
                )


@pytest.mark.parametrize("case, profile, backend", list(_params()))
def test_workload(case, profile, backend):
    require_backend(backend)
    args = wc.make_inputs(case, profile)
    want = wc.reference_outputs(case, args)
    fn = getattr(load(case.file, backend), case.name)
    got = as_tuple(fn(*args), len(want))
    what = f"{case.id} [{profile}] on {backend}"
    for k, (g, w) in enumerate(zip(got, want)):
        if case.check == "knn":
            assert_knn(g, args[0], args[1], f"{what} output {k}")
        else:
            assert_close(g, w, f"{what} output {k}")


@pytest.mark.parametrize("backend", BACKENDS)
def test_nn_ties_go_to_smallest_index(backend):
    """Integer-valued points: many exact ties, which must resolve to the smallest j."""
    require_backend(backend)
    rng = np.random.default_rng(3)
    x = rng.integers(-2, 3, size=(17, 2)).astype(np.float32)
    y = rng.integers(-2, 3, size=(12, 2)).astype(np.float32)
    mod = load("w02_nn.tc", backend)
    got = np.asarray(mod.nn(x, y))
    np.testing.assert_array_equal(got, ref.nn(x.astype(np.float64), y.astype(np.float64)))
    got = np.asarray(mod.knn(x, y))
    np.testing.assert_array_equal(got, ref.knn(x.astype(np.float64), y.astype(np.float64)))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("W", [0, 1, 3, 100])
def test_window_sizes(backend, W):
    """W = 0 is the diagonal only; W >= N degenerates to full (or causal) attention."""
    require_backend(backend)
    rng = np.random.default_rng(W)
    q, k, v = (rng.standard_normal((1, 2, 9, 4)).astype(np.float32) for _ in range(3))
    mod = load("w05_window_attention.tc", backend)
    f64 = [a.astype(np.float64) for a in (q, k, v)]
    assert_close(mod.window_attention(q, k, v, 0.5, W), ref.window_attention(*f64, 0.5, W))
    assert_close(
        mod.causal_window_attention(q, k, v, 0.5, W), ref.causal_window_attention(*f64, 0.5, W)
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_causal_attention_more_queries_than_keys(backend):
    """N > M: rows i >= M see every key; the mask j <= i then masks nothing."""
    require_backend(backend)
    rng = np.random.default_rng(5)
    q = rng.standard_normal((2, 1, 7, 3)).astype(np.float32)
    k = rng.standard_normal((2, 1, 4, 3)).astype(np.float32)
    v = rng.standard_normal((2, 1, 4, 5)).astype(np.float32)
    got = load("w04_attention.tc", backend).attention(q, k, v, 0.7)
    assert_close(got, ref.attention(*(a.astype(np.float64) for a in (q, k, v)), 0.7))


@pytest.mark.parametrize("backend", BACKENDS)
def test_torch_inputs(backend):
    """torch tensors are accepted as inputs; the values match numpy's."""
    torch = pytest.importorskip("torch")
    require_backend(backend)
    x = np.random.default_rng(1).standard_normal((6, 4)).astype(np.float32)
    got = load("w07_gram.tc", backend).gram(torch.from_numpy(x))
    got = got.numpy() if hasattr(got, "numpy") else np.asarray(got)
    assert_close(got, ref.gram(x.astype(np.float64)))


@pytest.mark.parametrize("path", sorted(wc.EXAMPLES.glob("*.tc")), ids=lambda p: p.name)
def test_example_parses(path):
    tree = tensorc.frontend.parse_file(str(path))
    assert tree is not None


def test_every_def_has_a_case():
    """A def added to an example file without a reference fails here, not silently."""
    import re

    covered = {(c.file, c.name) for c in wc.CASES}
    for path in sorted(wc.EXAMPLES.glob("*.tc")):
        for name in re.findall(r"^\s*def\s+(\w+)", path.read_text(), flags=re.MULTILINE):
            assert (path.name, name) in covered, f"{path.name}::{name} has no reference case"


def test_quickstart_runs():
    script = wc.EXAMPLES / "quickstart.py"
    proc = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=wc.ROOT,
        check=False,
    )
    assert proc.returncode == 0, f"quickstart.py failed:\n{proc.stdout}\n{proc.stderr}"
    assert "all checks passed" in proc.stdout
