"""The cache trusts only its owner: planted pickles never run, modes are private, temp files never
leak, corrupt entries are removed. Anything that could crash runs in a subprocess."""

from __future__ import annotations

import os
import pickle
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tensorc.cache import entry, pickled, store, trust

_RUN = textwrap.dedent("""
    import warnings, numpy as np, tensorc
    warnings.simplefilter("always")
    src = "def f(float(N) x, float(N) y) -> (out) {\\n    out(i) = x(i) * y(i) + 1\\n}\\n"
    x = np.arange(5, dtype=np.float32)
    got = tensorc.compile(src, backend="cpu").f(x, x)
    assert (got == x * x + 1).all(), got
    print("OK")
""")


class _Plant:
    """Unpickling this creates the marker file (what an attacker's code would do)."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _run(cache: Path, script: str = _RUN, **env: str) -> subprocess.CompletedProcess:
    full = {**os.environ, "TENSORC_CACHE_DIR": str(cache), **env}
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=full,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0 and "OK" in done.stdout, done.stderr[-3000:]
    return done


def _entries(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def _plant_everywhere(root: Path, marker: Path, consistent: bool, kinds=None) -> int:
    """Replace the payload of every entry (of `kinds`) with a planted pickle: with a consistent
    header (right digest) or a bad digest."""
    n = 0
    evil = pickle.dumps(_Plant(marker))
    for path in _entries(root):
        if kinds is not None and path.parts[len(root.parts)] not in kinds:
            continue
        data = entry.encode(evil, {"kind": "program"})
        if not consistent:
            data = data[:4] + bytes(32) + data[36:]
        path.write_bytes(data)
        n += 1
    return n


def test_planted_pickle_in_a_world_writable_cache_never_runs(tmp_path):
    cache, marker = tmp_path / "cache", tmp_path / "PWNED"
    _run(cache)  # fill it: grammar, program and object entries
    assert _plant_everywhere(cache, marker, consistent=True) >= 3
    os.chmod(cache, 0o777)
    done = _run(cache)
    assert not marker.exists()
    assert "is not used" in done.stderr and "writable by group or others" in done.stderr


def test_planted_pickle_in_a_world_writable_subdirectory_never_runs(tmp_path):
    cache, marker = tmp_path / "cache", tmp_path / "PWNED"
    _run(cache)
    _plant_everywhere(cache, marker, consistent=True, kinds=("program", "grammar"))
    for sub in ("program", "grammar"):
        os.chmod(cache / sub, 0o777)
    _run(cache)
    assert not marker.exists()


@pytest.mark.parametrize("consistent", [False, True], ids=["bad-digest", "consistent-header"])
def test_planted_pickle_in_the_private_cache_never_runs_and_is_removed(tmp_path, consistent):
    cache, marker = tmp_path / "cache", tmp_path / "PWNED"
    _run(cache)
    kinds = ("program", "grammar") if consistent else None  # object code is linked, not parsed
    _plant_everywhere(cache, marker, consistent=consistent, kinds=kinds)
    evil = pickle.dumps(_Plant(marker))
    planted = {p: p.read_bytes() for p in _entries(cache) if evil in p.read_bytes()}
    assert len(planted) >= (2 if consistent else 3)
    _run(cache)
    assert not marker.exists()
    # each planted entry is refused and removed when read (read here: a subprocess's keys
    # include a digest of tensorc's sources, which may change between runs in a checkout)
    os.environ["TENSORC_CACHE_DIR"] = str(cache)
    try:
        for path, data in planted.items():
            kind, key, suffix = path.parts[len(cache.parts)], path.stem, path.suffix
            if path.exists() and path.read_bytes() == data:  # not rebuilt by the run
                assert store.read(kind, key, suffix, decode=pickled.loads) is None
                assert not path.exists()
            assert not path.exists() or evil not in path.read_bytes()
    finally:
        del os.environ["TENSORC_CACHE_DIR"]
    assert not marker.exists()


def test_foreign_pyc_next_to_a_triton_module_never_runs(tmp_path):
    pytest.importorskip("triton")
    cache, marker = tmp_path / "cache", tmp_path / "PWNED"
    script = (
        _RUN.replace('backend="cpu"', 'backend="triton"')
        .replace("x = np.arange", "import torch; x = torch.arange")
        .replace("np.float32", "torch.float32")
    )
    _run(cache, script, TRITON_INTERPRET="1")
    modules = list((cache / "triton").glob("tc_*.py"))
    assert modules and not list(cache.rglob("__pycache__"))
    import importlib._bootstrap_external as ext

    evil = compile(f"open({str(marker)!r}, 'w')\n", "evil", "exec")
    for mod in modules:
        st = mod.stat()
        pyc = Path(ext.cache_from_source(str(mod)))
        pyc.parent.mkdir(exist_ok=True)
        pyc.write_bytes(ext._code_to_timestamp_pyc(evil, st.st_mtime, st.st_size))
    _run(cache, script, TRITON_INTERPRET="1")
    assert not marker.exists()


def test_cache_off_uses_a_private_temporary_directory_for_triton(tmp_path, monkeypatch):
    from tensorc.backends.triton import build

    shared = tmp_path / "tensorc" / "triton"
    shared.mkdir(parents=True)
    os.chmod(shared, 0o777)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setenv("TENSORC_CACHE_DIR", "off")
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    build._private_tmp.cache_clear()
    try:
        where = build.cache_dir()
        assert where != shared and where.parent == tmp_path and where.name.startswith("tensorc-")
        assert stat.S_IMODE(where.stat().st_mode) == 0o700
        path = build.source_path("X = 1\n")
        assert path.parent == where and build.import_source(path).X == 1
    finally:
        build._private_tmp.cache_clear()


def test_modes_are_private(tmp_path):
    cache = tmp_path / "cache"
    _run(cache)
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    for path in cache.rglob("*"):
        want = 0o700 if path.is_dir() else 0o600
        assert stat.S_IMODE(path.stat().st_mode) == want, path


def test_another_owner_is_not_trusted(tmp_path):
    if not hasattr(os, "getuid") or os.getuid() != 0:
        pytest.skip("needs root to give a file to another user")
    d = tmp_path / "d"
    d.mkdir(mode=0o700)
    assert trust.chain_problem(d, d) == ""
    os.chown(d, 65534, 65534)
    assert "not by you" in trust.chain_problem(d, d)
    f = tmp_path / "f"
    f.write_bytes(b"x")
    os.chmod(f, 0o600)
    assert trust.read_private(f) == b"x"
    os.chown(f, 65534, 65534)
    assert trust.read_private(f) is None


def test_a_root_named_through_a_link_is_used(tmp_path, monkeypatch):
    real = tmp_path / "real"
    (tmp_path / "link").symlink_to(real, target_is_directory=True)
    monkeypatch.setenv("TENSORC_CACHE_DIR", str(tmp_path / "link"))
    path = store.write("obj", "cd" * 32, b"payload")
    assert path is not None and real in path.parents and store.read("obj", "cd" * 32) == b"payload"


def test_symlinked_entry_is_not_followed(tmp_path, monkeypatch):
    monkeypatch.setenv("TENSORC_CACHE_DIR", str(tmp_path / "c"))
    key = store.cache_key(x="link")
    path = store.write("obj", key, b"payload")
    target = tmp_path / "elsewhere"
    target.write_bytes(path.read_bytes())
    os.chmod(target, 0o600)
    path.unlink()
    path.symlink_to(target)
    assert store.read("obj", key) is None


@pytest.mark.parametrize("fail", ["replace", "write"])
def test_no_temp_file_leaks_when_the_disk_refuses(tmp_path, monkeypatch, fail):
    monkeypatch.setenv("TENSORC_CACHE_DIR", str(tmp_path))
    key = store.cache_key(x=fail)
    assert store.write("obj", key, b"warm-up") is not None  # directories exist now

    def refuse(*a, **k):
        raise OSError(28, "No space left on device")

    class Full:  # a file whose writes fail as on a full disk
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        write = refuse

    real = os.fdopen
    with monkeypatch.context() as m:
        if fail == "replace":
            m.setattr(os, "replace", refuse)
        else:
            m.setattr(os, "fdopen", lambda *a, **k: Full(real(*a, **k)))
        assert store.write("obj", store.cache_key(x="other"), b"payload") is None
    assert not [p for p in tmp_path.rglob(".tmp-*")]
    assert store.read("obj", key) == b"warm-up"


def test_corrupt_entry_with_a_consistent_header_is_removed(tmp_path, monkeypatch):
    from tensorc.ir.loop_ir import LoopProgram

    monkeypatch.setenv("TENSORC_CACHE_DIR", str(tmp_path))
    key = store.cache_key(x="corrupt")
    path = store.write("program", key, b"not a pickle at all", ".pickle")
    assert path.exists()
    assert store.read_pickle("program", key, (LoopProgram, bytes)) is None
    assert not path.exists()
    path = store.write_pickle("program", key, ("a tuple", "of the wrong types"))
    assert store.read_pickle("program", key, (LoopProgram, bytes)) is None
    assert not path.exists()


def _corrupt_object(data: bytes) -> bytes:
    return data[:64] + bytes(len(data) - 64)  # an ELF header, then zeros


@pytest.mark.parametrize("kind", ["llvm", "program"])
def test_corrupt_object_code_with_a_consistent_header_is_removed_and_rebuilt(tmp_path, kind):
    """Linking such an entry failed on every call ("Invalid ELF class") and it stayed."""
    cache = tmp_path / "cache"
    _run(cache)
    for path in _entries(cache):
        meta, payload = entry.decode(path.read_bytes())
        if kind == "llvm" and path.parts[len(cache.parts)] == "llvm":
            path.write_bytes(entry.encode(_corrupt_object(payload), meta))
        elif kind == "program" and path.parts[len(cache.parts)] == "program":
            prog, obj = pickle.loads(payload)
            path.write_bytes(entry.encode(pickle.dumps((prog, _corrupt_object(obj))), meta))
        elif path.parts[len(cache.parts)] in ("llvm", "program"):
            path.unlink()  # so that the corrupt kind is the one read
    _run(cache)
    _run(cache)


def test_elf_check():
    from tensorc.cache import objcheck

    assert objcheck.elf_ok(b"not elf at all")  # other formats are not checked
    assert not objcheck.elf_ok(b"\x7fELF" + bytes(100))
    assert not objcheck.elf_ok(b"\x7fEL")


def test_untrusted_root_warns_once_and_keeps_entries_in_memory(tmp_path, monkeypatch):
    from tensorc.errors import TensorcWarning

    root = tmp_path / "shared"
    root.mkdir()
    os.chmod(root, 0o777)
    monkeypatch.setenv("TENSORC_CACHE_DIR", str(root))
    with pytest.warns(TensorcWarning, match="writable by group or others"):
        assert store.write("obj", "ab" * 32, b"kept") is None
    assert store.read("obj", "ab" * 32) == b"kept"  # from memory
    assert not list(root.iterdir())
