"""Compile LLVM IR text for the host CPU and load object code (llvmlite.binding, LLVM 22).

`compile_ir(text)` parses, optimises at O3 (loop + SLP vectorisation) for the host CPU and its
features and returns object code, going through an on-disk cache keyed by sha256 of (IR text,
llvmlite version, host cpu name + features). `load_object(obj, symbols)` links the object into an
LLJIT instance (libm and the rest of the process are visible to it) and returns the addresses.

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
import threading
from dataclasses import dataclass

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


@functools.cache
def target_machine() -> llvm.TargetMachine:
    _init()
    cpu, features = host()
    target = llvm.Target.from_triple(llvm.get_process_triple())
    return target.create_target_machine(
        cpu=cpu, features=features, opt=3, reloc="pic", codemodel="default", jit=False
    )


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


def optimize(text: str) -> llvm.ModuleRef:
    """Parse and optimise `text` for the host (O3, loop and SLP vectorisation)."""
    _init()
    tm = target_machine()
    mod = llvm.parse_assembly(text)
    mod.triple = tm.triple
    mod.data_layout = str(tm.target_data)
    mod.verify()
    pto = llvm.create_pipeline_tuning_options(speed_level=3)
    pto.loop_vectorization = True
    pto.slp_vectorization = True
    pto.loop_unrolling = True
    pb = llvm.create_pass_builder(tm, pto)
    pb.getModulePassManager().run(mod, pb)
    return mod


def optimized_ir(text: str) -> str:
    """The optimised IR (for inspection: look for `<8 x float>`)."""
    return str(optimize(text))


def compile_ir(text: str, use_cache: bool = True) -> bytes:
    """Object code for `text`, from the on-disk store when present and intact."""

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
    """Link object code into the process-wide LLJIT; returns the addresses of `symbols`."""
    builder = llvm.JITLibraryBuilder().add_object_img(obj).add_current_process()
    for s in symbols:
        builder.export_symbol(s)
    with _lock:
        name = f"tensorc_{os.getpid()}_{next(_counter)}"
        tracker = builder.link(_jit(), name)
    return Library(tracker, {s: tracker[s] for s in symbols})
