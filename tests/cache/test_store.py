"""The on-disk store: round trip, corruption detected and rebuilt, disabled cache."""

from __future__ import annotations

from tensorc.cache import store


def test_round_trip_and_corruption(tmp_path, monkeypatch):
    monkeypatch.setenv("TENSORC_CACHE_DIR", str(tmp_path))
    key = store.cache_key(ir="C(m,n) = ...", target="x86", config="{}")
    assert store.read("obj", key) is None
    calls = []
    build = lambda: calls.append(1) or b"payload"
    assert store.get_or_build("obj", key, build) == b"payload"
    assert store.get_or_build("obj", key, build) == b"payload"
    assert len(calls) == 1
    path = store._path("obj", key, ".bin")
    path.write_bytes(path.read_bytes()[:-3])  # truncate: must be detected
    assert store.read("obj", key) is None and not path.exists()
    assert store.get_or_build("obj", key, build) == b"payload" and len(calls) == 2


def test_key_depends_on_every_part():
    a = store.cache_key(ir="x", target="t")
    assert a != store.cache_key(ir="x", target="u")
    assert a == store.cache_key(target="t", ir="x")


def test_disabled(monkeypatch):
    monkeypatch.setenv("TENSORC_CACHE_DIR", "off")
    assert store.write("obj", "ab" * 32, b"x") is None
    assert store.read("obj", "ab" * 32) is None


_SUM = "def {name}(float(N) x, float(N) y) -> (out) {{\n    out(i) = x(i) * y(i) + {c}\n}}\n"


def test_program_cache_skips_lowering(tmp_path, monkeypatch):
    """A new Module (as in a new process) finds the lowered program and its object code by the
    def's text, the sizes and tensorc's code digest; a different def or code digest misses."""
    import numpy as np

    import tensorc
    import tensorc.passes

    monkeypatch.setenv("TENSORC_CACHE_DIR", str(tmp_path))
    x, y = np.arange(5, dtype=np.float32), np.full(5, 2, np.float32)

    def run(name, c):
        return getattr(tensorc.compile(_SUM.format(name=name, c=c), backend="cpu"), name)(x, y)

    np.testing.assert_array_equal(run("f", 1), x * y + 1)
    lowered = []
    real = tensorc.passes.to_loops
    monkeypatch.setattr(
        tensorc.passes, "to_loops", lambda *a, **k: lowered.append(1) or real(*a, **k)
    )
    np.testing.assert_array_equal(run("f", 1), x * y + 1)
    assert lowered == []  # served by the program cache
    np.testing.assert_array_equal(run("g", 1), x * y + 1)  # same structure, other names
    np.testing.assert_array_equal(run("f", 3), x * y + 3)  # other constant
    assert len(lowered) == 2
    monkeypatch.setattr(store, "code_digest", lambda: "edited checkout")
    np.testing.assert_array_equal(run("f", 1), x * y + 1)
    assert len(lowered) == 3
