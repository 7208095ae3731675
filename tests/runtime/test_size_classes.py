"""A new size that the compiled program handles symbolically reuses it: no lowering, the right
results; specialised sizes (<= schedule.SPECIALISE_MAX) and a new power-of-two bucket lower again.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest

import tensorc
from tensorc.runtime.size_classes import size_class
from tensorc.schedule.schedule import SPECIALISE_MAX

SOURCE = """
def ksum(float(N,D) x, float(M,D) y, float(M) b) -> (out) {
    out(i) = sum(j: exp(-sum(d: (x(i,d) - y(j,d)) * (x(i,d) - y(j,d)))) * b(j))
}
"""


@pytest.fixture
def lowerings(monkeypatch, tmp_path):
    """Count calls of the lowering (with a fresh kernel store, so nothing comes from disk)."""
    monkeypatch.setenv("TENSORC_CACHE_DIR", str(tmp_path))
    calls = []
    for name in ("tensorc.passes", "tensorc.pipeline"):  # wherever the runtime imports it from
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        real = getattr(module, "to_loops", None)
        if real is not None:
            monkeypatch.setattr(module, "to_loops", _counting(real, calls))
    return calls


def _counting(real, calls: list):
    def counting(def_, *args, **kwargs):
        calls.append(kwargs.get("sizes"))
        return real(def_, *args, **kwargs)

    return counting


def _args(n: int, m: int, d: int = 3):
    rng = np.random.default_rng(n * 1000 + m)
    x = rng.standard_normal((n, d)).astype(np.float32)
    y = rng.standard_normal((m, d)).astype(np.float32)
    return x, y, rng.standard_normal(m).astype(np.float32)


def _want(x, y, b):
    d2 = ((x[:, None, :].astype(np.float64) - y[None, :, :]) ** 2).sum(-1)
    return np.exp(-d2) @ b


@pytest.mark.parametrize("backend", ["cpu", "loops"])
def test_a_new_size_in_a_known_class_is_not_lowered_again(lowerings, backend):
    fn = tensorc.compile(SOURCE, backend=backend).ksum
    for n, m in ((40, 50), (41, 60), (63, 33)):  # N and M stay in 2^5..2^6: one class
        args = _args(n, m)
        np.testing.assert_allclose(fn(*args), _want(*args), rtol=1e-4, atol=1e-5)
    assert len(lowerings) == 1


def test_specialised_sizes_and_new_buckets_are_lowered(lowerings):
    fn = tensorc.compile(SOURCE, backend="cpu").ksum
    cases = [(40, 50, 3), (41, 51, 3), (40, 50, 4), (70, 50, 4), (71, 50, 4)]
    for n, m, d in cases:
        args = _args(n, m, d)
        np.testing.assert_allclose(fn(*args), _want(*args), rtol=1e-4, atol=1e-5)
    # (41, 51, 3) reuses (40, 50, 3); D=4 is specialised anew; N=70 is a new bucket; N=71 reuses it
    assert [(s["N"], s["D"]) for s in lowerings] == [(40, 3), (40, 4), (70, 4)]


def test_size_class_says_which_sizes_are_specialised():
    d = tensorc.compile(SOURCE).ksum.def_
    got = size_class(d, {"N": 1000, "M": 1500, "D": 3, "W": 5})
    assert got == ("D=3", "M~2^11", "N~2^10", "W~2^3")  # W: not a shape size, never baked in
    edge = SPECIALISE_MAX
    assert size_class(d, {"N": edge})[0] == f"N={edge}"
    assert size_class(d, {"N": edge + 1})[0] == f"N~2^{(edge + 1).bit_length()}"
