"""Compile LLVM IR text for the host CPU and load object code (llvmlite.binding, LLVM 22).

`compile_ir(text)` parses, optimises at O3 (loop + SLP vectorisation) for the host CPU and its
features and returns object code, going through an on-disk cache keyed by sha256 of (IR text,
llvmlite version, host cpu name + features). `load_object(obj, symbols)` links the object into an
LLJIT instance (libm and the rest of the process are visible to it) and returns the addresses.

Shared routines (the Gemm routines of gemm_routines.py): kernel modules only declare them. Each is compiled
once per machine with a light pipeline (it is vectorised by hand), keyed by the source of the code
that generates it, and linked once per process; a cold compile builds it on a second thread while
the kernel module is optimised (LLVM releases the GIL; each thread has its own context and target
machine).

Cache directory: `$TENSORC_CACHE_DIR/llvm` if set, else platformdirs' user cache dir +
"/tensorc/llvm". Files are `<key>.o` holding a header (magic, payload size, sha256 of the payload)
and the payload; writes are atomic (temp file + os.replace), and a file whose header does not match
is rebuilt.

Example:
    obj = compile_ir(render_program(prog))
    lib = load_object(obj, ["tc_matmul_0_k"])
    addr = lib.addresses["tc_matmul_0_k"]
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import os
import re
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import llvmlite
import llvmlite.binding as llvm

from tensorc.cache import store

_lock = threading.Lock()
_counter = itertools.count()


@functools.cache
def _init() -> None:
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()


@functools.cache
def host() -> tuple[str, str]:
    """(cpu name, flattened feature string) of this machine."""
    _init()
    return llvm.get_host_cpu_name(), llvm.get_host_cpu_features().flatten()


def target_machine() -> llvm.TargetMachine:
    """This thread's target machine for the host (one per thread: compiles may overlap)."""
    tm = getattr(_local, "tm", None)
    if tm is None:
        _init()
        cpu, features = host()
        target = llvm.Target.from_triple(llvm.get_process_triple())
        tm = _local.tm = target.create_target_machine(
            cpu=cpu, features=features, opt=3, reloc="pic", codemodel="default", jit=False
        )
    return tm


_local = threading.local()


def toolchain() -> str:
    """llvmlite and LLVM versions (part of every cache key)."""
    return f"llvmlite-{llvmlite.__version__}-llvm-{'.'.join(map(str, llvm.llvm_version_info))}"


def cache_key(text: str) -> str:
    cpu, features = host()
    h = hashlib.sha256()
    for part in (toolchain(), cpu, features, text):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()


def optimize(text: str, light: bool = False) -> llvm.ModuleRef:
    """Parse and optimise `text` for the host: O3 with loop and SLP vectorisation, or (`light`,
    for code vectorised by hand such as the Gemm routines) O1 without the vectorisers, which
    measured as fast and compiles in 60% of the time."""
    _init()
    tm = target_machine()
    mod = llvm.parse_assembly(text, llvm.create_context())  # own context: compiles may overlap
    mod.triple = tm.triple
    mod.data_layout = str(tm.target_data)
    mod.verify()
    pto = llvm.create_pipeline_tuning_options(speed_level=1 if light else 3)
    pto.loop_vectorization = not light
    pto.slp_vectorization = not light
    pto.loop_unrolling = True
    pb = llvm.create_pass_builder(tm, pto)
    pb.getModulePassManager().run(mod, pb)
    return mod


def optimized_ir(text: str) -> str:
    """The optimised IR (for inspection: look for `<8 x float>`)."""
    return str(optimize(text))


def compile_ir(text: str, use_cache: bool = True) -> bytes:
    """Object code for `text`, from the on-disk store when present and intact. Shared routines
    that `text` declares start building on another thread meanwhile (see `load_object`)."""
    for name in _DECLARED.findall(text):
        _routine_object(name)

    def build() -> bytes:
        return bytes(target_machine().emit_object(optimize(text)))

    if not use_cache:
        return build()
    return store.get_or_build("llvm", cache_key(text), build, suffix=".o")


@dataclass
class Library:
    """A linked object: keep it alive as long as its addresses are used."""

    tracker: object
    addresses: dict[str, int]


@functools.cache
def _jit():
    _init()
    return llvm.create_lljit_compiler(target_machine())


def load_object(obj: bytes, symbols: list[str]) -> Library:
    """Link object code into the process-wide LLJIT; returns the addresses of `symbols`.

    Shared routines the object calls (the Gemm routines of gemm.py, found by name in its symbol
    table) are compiled once per machine and linked once per process first."""
    names = sorted({m.decode() for m in _ROUTINE.findall(obj)})
    return _link(obj, symbols, {n: _routine(n) for n in names})


# a routine symbol in an object's string table (NUL-terminated) and declared in IR text
_NAME = rb"tc\.gemm\.[a-z0-9]+\.[a-z0-9]+\.[a-z0-9]+\.[a-z0-9]+"
_ROUTINE = re.compile(b"(" + _NAME + rb")\x00")
_DECLARED = re.compile(r'declare void @"(' + _NAME.decode() + ')"')
_ROUTINES: dict[str, Library] = {}  # linked routines live as long as the process
_OBJECTS: dict[str, Future] = {}  # their object code, built once per process (or read)
_routine_lock = threading.Lock()
_builder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tensorc-llvm")


def _routine(name: str) -> int:
    """Address of shared routine `name`, linked into this process on first use."""
    obj = _routine_object(name).result()
    with _routine_lock:
        if name not in _ROUTINES:
            _ROUTINES[name] = _link(obj, [name], {})
        return _ROUTINES[name].addresses[name]


def _routine_object(name: str) -> Future:
    """Object code of routine `name`: from the store, else compiled on the builder thread. The key
    is the generator's source (gemm_routines.py, the modules it uses and this file's pipeline), so a cached load never
    regenerates the routine's IR."""
    with _routine_lock:
        if name not in _OBJECTS:
            _OBJECTS[name] = _builder.submit(
                store.get_or_build, "llvm", _routine_key(name), lambda: _build_routine(name), ".o"
            )
        return _OBJECTS[name]


def _build_routine(name: str) -> bytes:
    from .gemm_routines import routine_ir

    return bytes(target_machine().emit_object(optimize(routine_ir(name), light=True)))


def _routine_key(name: str) -> str:
    from . import codec, gemm, gemm_routines, mathlib

    files = [Path(m.__file__) for m in (codec, gemm, gemm_routines, mathlib)] + [Path(__file__)]
    sources = [f.read_text() for f in files]
    return cache_key("\0".join(["routine", name, *sources]))


def _link(obj: bytes, symbols: list[str], imports: dict[str, int]) -> Library:
    builder = llvm.JITLibraryBuilder().add_object_img(obj).add_current_process()
    for s in symbols:
        builder.export_symbol(s)
    for s, addr in imports.items():
        builder.import_symbol(s, addr)
    with _lock:
        name = f"tensorc_{os.getpid()}_{next(_counter)}"
        tracker = builder.link(_jit(), name)
    return Library(tracker, {s: tracker[s] for s in symbols})
