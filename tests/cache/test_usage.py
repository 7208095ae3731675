"""Seeing and managing the cache: tensorc.cache.entries/info/clear/prune, `tensorc cache ...`,
TENSORC_CACHE_MAX with least-recently-used eviction, and the Triton fallback directory."""

from __future__ import annotations

import json
import os
import time

import pytest

import tensorc.cache
from tensorc import cli, knobs
from tensorc.cache import store, usage
from tensorc.errors import ArgumentError, TensorcWarning


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setenv("TENSORC_CACHE_DIR", str(tmp_path / "c"))
    monkeypatch.delenv("TENSORC_CACHE_MAX", raising=False)
    return tmp_path / "c"


def _put(name: str, size: int, kind: str = "llvm", age: float = 0.0, **meta) -> str:
    key = store.cache_key(name=name)
    path = store.write(kind, key, b"x" * size, meta=meta)
    t = time.time() - age
    os.utime(path, (t, t))
    return key


def test_entries_info_clear(root):
    _put("a", 100, "program", age=30, **{"def": "f", "sizes": {"N": 4}, "backend": "cpu"})
    _put("b", 200, "tune", age=20, **{"def": "g", "sizes": {"N": 5, "M": 2}, "backend": "cpu"})
    _put("c", 300, "llvm", age=10)
    rows = tensorc.cache.entries()
    assert [e.kind for e in rows] == ["program", "tune", "llvm"]  # least recently used first
    tune = rows[1]
    assert (tune.def_, tune.sizes, tune.backend) == ("g", "M=2,N=5", "cpu")
    assert tune.bytes > 200 and tune.last_use < time.time() - 15
    assert [e.kind for e in tensorc.cache.entries("tune")] == ["tune"]
    info = tensorc.cache.info()
    assert info["state"] == "on" and info["entries"] == 3
    assert info["kinds"]["llvm"]["entries"] == 1 and info["bytes"] == sum(e.bytes for e in rows)
    assert info["max_bytes"] == knobs.CACHE_MAX_DEFAULT
    gone = tensorc.cache.clear(older_than=15)
    assert sorted(e.kind for e in gone) == ["program", "tune"]
    assert [e.kind for e in tensorc.cache.entries()] == ["llvm"]
    tensorc.cache.clear()
    assert tensorc.cache.entries() == [] and tensorc.cache.info()["bytes"] == 0


def test_prune_evicts_least_recently_used(root):
    keys = [_put(n, 1000, age=100 - i) for i, n in enumerate("abcd")]
    assert store.read("llvm", keys[0]) is not None  # a read is a use: "a" is now the newest
    gone = tensorc.cache.prune(2 * 1100)
    assert len(gone) == 2
    left = {e.path.stem for e in tensorc.cache.entries()}
    assert left == {keys[0], keys[3]}
    assert tensorc.cache.prune("1K") and tensorc.cache.entries() == []


def test_size_cap_evicts_on_write(root, monkeypatch):
    monkeypatch.setenv("TENSORC_CACHE_MAX", "3K")
    keys = [_put(n, 1000, age=100 - i) for i, n in enumerate("abc")]
    new = _put("d", 1000)
    left = {e.path.stem for e in tensorc.cache.entries()}
    assert new in left and keys[0] not in left and len(left) == 2
    assert sum(e.bytes for e in tensorc.cache.entries()) <= 3 * 1024


def test_an_entry_bigger_than_the_cap_is_kept_alone(root, monkeypatch):
    monkeypatch.setenv("TENSORC_CACHE_MAX", "100")
    _put("a", 50, age=10)
    big = _put("b", 1000)
    assert [e.path.stem for e in tensorc.cache.entries()] == [big]


@pytest.mark.parametrize(
    "text, want",
    [
        ("4096", 4096),
        ("500M", 500 << 20),
        ("2G", 2 << 30),
        ("1.5GB", 3 << 29),
        ("300KiB", 300 << 10),
    ],
)
def test_cache_max_units(monkeypatch, text, want):
    monkeypatch.setenv("TENSORC_CACHE_MAX", text)
    assert knobs.cache_max_bytes() == want


def test_cache_max_refuses_nonsense(monkeypatch):
    monkeypatch.setenv("TENSORC_CACHE_MAX", "lots")
    with pytest.raises(ArgumentError, match="TENSORC_CACHE_MAX"):
        knobs.cache_max_bytes()


def test_cli(root, capsys):
    _put("a", 100, "program", age=7200, **{"def": "gram", "sizes": {"N": 8}, "backend": "cpu"})
    _put("b", 100, "tune", **{"def": "ksum", "sizes": {"N": 3}, "backend": "cpu"})
    assert cli.main(["cache", "info"]) == 0
    out = capsys.readouterr().out
    assert str(root) in out and "2 entries" in out and "program" in out
    assert cli.main(["cache", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["KIND", "DEF", "SIZES", "BACKEND", "BYTES", "LAST", "USE"]
    assert lines[1].split()[:4] == ["program", "gram", "N=8", "cpu"] and "2h ago" in lines[1]
    assert cli.main(["cache", "list", "--kind", "tune", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["def"] for r in rows] == ["ksum"]
    assert cli.main(["cache", "clear", "--older-than", "1h"]) == 0
    assert "removed 1 entry" in capsys.readouterr().out
    assert cli.main(["cache", "prune", "--max", "0"]) == 0
    assert "removed 1 entry" in capsys.readouterr().out
    assert cli.main(["cache", "clear", "--older-than", "soon"]) == 1
    assert "--older-than" in capsys.readouterr().err


def test_cache_off_and_untrusted_show_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("TENSORC_CACHE_DIR", "off")
    assert tensorc.cache.info()["state"] == "off" and tensorc.cache.entries() == []
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "llvm").mkdir()
    (shared / "llvm" / "planted.o").write_bytes(b"x")
    os.chmod(shared, 0o777)
    monkeypatch.setenv("TENSORC_CACHE_DIR", str(shared))
    with pytest.warns(TensorcWarning):
        assert tensorc.cache.info()["state"].startswith("not trusted")
    assert tensorc.cache.entries() == [] and tensorc.cache.clear() == []
    assert (shared / "llvm" / "planted.o").exists()  # not ours to delete either


def test_triton_unwritable_cache_dir_warns_and_uses_a_private_directory(root, monkeypatch):
    from tensorc.backends.triton import build

    real = store.write_atomic

    def full_cache(path, data):  # the cache directory refuses writes, /tmp does not
        return False if root in path.parents else real(path, data)

    monkeypatch.setattr(store, "write_atomic", full_cache)
    with pytest.warns(TensorcWarning, match="cannot write the Triton module"):
        path = build.source_path("Y = 2\n# unwritable\n")
    assert path.parent == build._private_tmp() and build.import_source(path).Y == 2


def test_usage_scan_of_a_missing_root(tmp_path):
    assert usage.scan(tmp_path / "none") == []


def test_a_compiled_def_is_listed_by_name(root):
    import numpy as np

    src = "def listed(float(N) x) -> (y) {\n    y(i) = x(i) * 2\n}\n"
    x = np.arange(5, dtype=np.float32)
    np.testing.assert_array_equal(tensorc.compile(src, backend="cpu").listed(x), 2 * x)
    rows = {(e.kind, e.def_, e.sizes, e.backend) for e in tensorc.cache.entries()}
    assert ("program", "listed", "N=5", "cpu") in rows
    assert ("llvm", "listed", "", "cpu") in rows  # from the object's driver symbol


def test_temp_files_of_killed_writers_are_swept(root):
    _put("a", 10)  # creates the directories; this process has counted the root now
    usage._TOTALS.clear()  # as in a new process
    old, new = root / "llvm" / ".tmp-old", root / "llvm" / ".tmp-new"
    for path, age in ((old, 7200), (new, 10)):
        path.write_bytes(b"half")
        os.utime(path, (time.time() - age, time.time() - age))
    _put("b", 10)
    assert not old.exists() and new.exists()  # a fresh one may be another writer's
