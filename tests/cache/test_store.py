"""The on-disk store: round trip, corruption detected and rebuilt, disabled cache."""

from __future__ import annotations

from tensorc.cache import store


def test_round_trip_and_corruption(tmp_path, monkeypatch):
    monkeypatch.setenv("TENSORC_CACHE_DIR", str(tmp_path))
    key = store.cache_key(ir="C(m,n) = ...", target="x86", config="{}")
    assert store.read("obj", key) is None
    calls = []
    build = lambda: calls.append(1) or b"payload"  # noqa: E731
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
