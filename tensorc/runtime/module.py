"""Callable modules: one `Function` per def, which checks arguments, picks a backend and runs.

Data path of a call: check arguments against the def's signature -> bind size symbols -> pick the
backend (explicit, else "triton" for CUDA tensors and "cpu" otherwise) -> get the executable from the
in-memory cache or build it (TensorIR -> passes -> LoopIR -> backend render/build/load) -> allocate
zero-filled outputs and temps -> run -> hand results back in the caller's array type.

Everything before "allocate" depends only on the arguments' signature (types, dtypes, shapes,
strides, devices, integer size scalars: `arrays.signature`), so it is decided once per signature
and kept as a `Plan` (plan.py); a later call with that signature converts, allocates and runs. A call whose
signature differs in anything takes the fully checked path again.
"""

from __future__ import annotations

import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import sympy

from tensorc import backends as backend_registry
from tensorc import knobs
from tensorc.cache import store
from tensorc.errors import (
    ArgumentShapeError,
    ArgumentTypeError,
    BackendError,
    UnsupportedError,
)
from tensorc.ir.tensor_ir import Def, Program, TensorDecl
from tensorc.ir.types import DTYPES, is_float, is_int
from tensorc.runtime import arrays, autograd, bounds, broadcast, call_args
from tensorc.runtime.plan import Launch, Plan, eval_dim
from tensorc.runtime.size_classes import size_class


def remembered(cache: dict, key: Any, build: Callable[[], Any], limit: int = 64) -> Any:
    """`cache[key]`, else `build()` stored under `key` (not stored when `key` is None). A full
    cache is emptied first: a program rarely calls one function with many signatures."""
    value = cache.get(key) if key is not None else None
    if value is None:
        value = build()
        if key is not None:
            if len(cache) >= limit:
                cache.clear()
            cache[key] = value
    return value


def check_backend(name: str | None) -> None:
    if name is not None and name not in backend_registry.CHOICES:
        raise BackendError(
            f"unknown backend {name!r}", hint=f"choose one of: {', '.join(backend_registry.CHOICES)}"
        )


@dataclass
class Function:
    """A compiled def: call it with positional inputs (arrays, tensors, Python scalars)."""

    def_: Def
    backend: str | None = None
    _cache: dict = field(default_factory=dict, repr=False)  # (backend, sizes) -> Launch
    _lowered: dict = field(default_factory=dict, repr=False)  # (backend, size class) -> Launch
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    last_backend: str | None = field(default=None, repr=False)  # what the latest call ran on
    _dims: list | None = field(default=None, repr=False)  # see _input_dims
    _plans: dict = field(default_factory=dict, repr=False)  # signature -> Plan, see __call__
    _size_params: tuple[int, ...] = field(init=False, repr=False)
    autograd_ops: bool = field(default=True, repr=False)  # register its torch custom op early
    _narrowed: dict = field(default_factory=dict, repr=False)  # broadcast dims -> Function

    def __post_init__(self) -> None:
        # Positions of integer scalar parameters: their values are sizes (e.g. a window W).
        ins = self.def_.inputs
        self._size_params = tuple(i for i, d in enumerate(ins) if d.shape == () and is_int(d.dtype))
        if self.autograd_ops:
            autograd.prepare(self)  # with torch loaded: its custom op, before torch.compile traces

    @property
    def __name__(self) -> str:
        return self.def_.name

    def __repr__(self) -> str:
        ins = ", ".join(_signature_text(d) for d in self.def_.inputs)
        outs = ", ".join(_signature_text(d) for d in self.def_.outputs)
        return f"<tensorc function {self.def_.name}({ins}) -> ({outs})>"

    # -- the call path ------------------------------------------------------------------------
    def __call__(self, *args: Any, out: Any = None, **kwargs: Any) -> Any:
        """Run the def: inputs by position or by parameter name; `out=` an array (a tuple of
        arrays for several outputs) to write the result(s) into, which is then returned."""
        if kwargs or out is not None:
            return self._call_with(args, kwargs, out)
        if autograd.wanted(args):  # torch autograd or torch.compile: the def as a custom op
            return autograd.call(self, args)
        plan = remembered(self._plans, self._signature(args), lambda: self._plan(args))
        self.last_backend = plan.backend
        return plan(args)

    def _call_with(self, args: tuple, kwargs: dict[str, Any], out: Any) -> Any:
        """The call path with keyword arguments and/or `out=` buffers (see call_args)."""
        params = [d.name for d in self.def_.inputs]
        if out is not None and "out" in params:  # an input named `out` wins
            kwargs, out = {**kwargs, "out": out}, None
        if kwargs:
            args = call_args.bind_keywords(self.def_.name, params, args, kwargs)
        if out is None:
            return self(*args)
        if autograd.wanted(args):  # as in torch: a result written into a buffer has no graph
            raise ArgumentTypeError(
                f"{self.def_.name}(): out= cannot be used with tensors that require grad or "
                "under torch.compile", hint="drop out= and use the returned tensor",
            )
        outs = call_args.out_tuple(self.def_.name, self.def_.outputs, out)
        key = self._signature(args)
        out_key = tuple(map(arrays.signature, outs))
        key = None if key is None or None in out_key else (key, out_key)
        plan = remembered(self._plans, key, lambda: self._plan(args, outs))
        self.last_backend = plan.backend
        return plan.into(args, outs)

    def _signature(self, args: tuple) -> tuple | None:
        """What a call's plan depends on (see `arrays.signature`), or None: not cacheable."""
        if len(args) != len(self.def_.inputs):
            return None
        key = tuple(map(arrays.signature, args))
        if None in key:
            return None
        if self._size_params:
            sizes = tuple(args[i] for i in self._size_params)
            if not all(isinstance(v, (int, np.integer)) for v in sizes):
                return None
            key += sizes
        return key, self.backend or knobs.default_backend()

    def _plan(self, args: tuple, outs: tuple | None = None) -> Plan:
        """Check the arguments (and `out=` buffers), bind sizes, pick the backend and get its
        launch: everything that depends only on the arguments' signature."""
        infos = self._check_args(args)
        sizes = self._bind_sizes(infos, args)
        guard = bounds.check(self.def_, sizes, [i.shape for i in infos])  # before any build
        dims = broadcast.pattern(args)
        if dims is not None:
            narrow = self._narrow(dims)
            extra = tuple(sizes[t.name] for t in narrow.def_.inputs[len(args):])
            inner = narrow._plan(broadcast.shrink(args, dims, extra), outs)
            return broadcast.NarrowPlan(inner, dims, extra)
        device = next((i.device for i in infos if i.kind == "torch"), "cpu")
        name, launch = self._launch(self._pick_backend(device), sizes)
        plan = Plan.make(self, args, infos, sizes, name, launch, device)
        if guard is not None:
            plan = replace(plan, guard=guard)
        if outs is None:
            return plan
        like = "torch" if any(i.kind == "torch" for i in infos) else "numpy"
        shapes = [tuple(eval_dim(d, sizes) for d in o.shape) for o in self.def_.outputs]
        slots = call_args.out_slots(self.def_.name, self.def_.outputs, outs, shapes, like, device,
                                    on_torch=name == "triton")
        return replace(plan, out_slots=slots)

    def _narrow(self, dims: tuple) -> Function:
        """This def specialised to read broadcast views without their repeated dimensions
        (see runtime/broadcast.py)."""
        if dims not in self._narrowed:
            spec = broadcast.specialise(self.def_, dims)
            self._narrowed[dims] = Function(spec, self.backend, autograd_ops=False)
        return self._narrowed[dims]

    def _launch(self, name: str, sizes: dict[str, int]) -> tuple[str, Launch | None]:
        """(backend, launch) for these sizes, by the one fallback rule the API and the CLI share:
        a def the picked backend cannot compile runs on the reference interpreter with a warning,
        unless the backend was named (`backend=`, `--backend`): then it is an error."""
        if name == backend_registry.REFERENCE:
            return name, None
        try:
            return name, self._executable(name, sizes)
        except UnsupportedError as err:
            if self.backend is not None:
                raise UnsupportedError(
                    err.message, err.span,
                    hint=err.hint or f"leave the backend unnamed (no backend=, no --backend) to "
                    f"run {self.def_.name} on the reference interpreter (slow)",
                ) from None
            warnings.warn(
                f"tensorc: {self.def_.name} falls back to the reference interpreter (slow): "
                f"{err.message}",
                stacklevel=6,  # the caller of Function.__call__
            )
            return backend_registry.REFERENCE, None

    def _check_args(self, args: tuple) -> list[arrays.ArgInfo]:
        decls = self.def_.inputs
        if len(args) != len(decls):
            raise ArgumentTypeError(
                f"{self.def_.name}() takes {len(decls)} argument(s) "
                f"({', '.join(d.name for d in decls)}), got {len(args)}"
            )
        infos = []
        for decl, arg in zip(decls, args):
            try:
                info = arrays.describe(arg)
            except TypeError:
                raise ArgumentTypeError(
                    f"argument {decl.name!r}: expected {_signature_text(decl)}, "
                    f"got an object of type {type(arg).__name__}",
                    hint="pass a numpy array, a torch tensor or a Python number",
                ) from None
            if info.dtype is None:
                raise ArgumentTypeError(
                    f"argument {decl.name!r}: unsupported dtype {info.raw_dtype}",
                    hint=f"expected {decl.dtype}; supported: {', '.join(DTYPES)}",
                )
            if len(info.shape) != len(decl.shape):
                raise ArgumentShapeError(
                    f"argument {decl.name!r}: expected rank {len(decl.shape)} "
                    f"({_signature_text(decl)}), got rank {len(info.shape)} "
                    f"with shape {info.shape}"
                )
            if info.kind == "scalar":
                if not _scalar_fits(info.dtype, decl.dtype):
                    raise ArgumentTypeError(
                        f"argument {decl.name!r}: expected a {decl.dtype} scalar, "
                        f"got {info.raw_dtype} {arg!r}"
                    )
                arrays.check_scalar(decl.name, arg, decl.dtype)
            elif info.dtype != decl.dtype and not (
                decl.dtype == "bfloat16" and info.kind == "numpy" and info.dtype == "uint16"
            ):
                raise ArgumentTypeError(
                    f"argument {decl.name!r}: expected dtype {decl.dtype}, got {info.dtype}",
                    hint=f"convert it first, e.g. x.astype(np.{decl.dtype}) or "
                    f"x.to(torch.{decl.dtype})",
                )
            infos.append(info)
        return infos

    def _bind_sizes(self, infos: list[arrays.ArgInfo], args: tuple) -> dict[str, int]:
        sizes: dict[str, int] = {}
        where: dict[str, str] = {}
        for decl, dims, info in zip(self.def_.inputs, self._input_dims(), infos):
            for axis, (dim, actual) in enumerate(zip(dims, info.shape)):
                if isinstance(dim, int):
                    if dim != actual:
                        raise ArgumentShapeError(
                            f"argument {decl.name!r}: dimension {axis} must be {dim}, "
                            f"got {actual} (shape {info.shape})"
                        )
                    continue
                if dim is not None:
                    if dim in sizes and sizes[dim] != actual:
                        raise ArgumentShapeError(
                            f"size {dim} is bound twice to different values: {where[dim]} "
                            f"gives {dim} = {sizes[dim]}, but argument {decl.name!r} dimension "
                            f"{axis} gives {dim} = {actual}"
                        )
                    sizes.setdefault(dim, actual)
                    where.setdefault(dim, f"argument {decl.name!r} dimension {axis}")
        # Integer scalar parameters may appear in bounds (e.g. a window W): they are sizes too.
        for i in self._size_params:
            sizes[self.def_.inputs[i].name] = int(args[i])
        return sizes

    def _input_dims(self) -> list[tuple[int | str | None, ...]]:
        """Per input, each dimension as an int (a literal), a str (a size symbol) or None (an
        expression, checked by the kernel's bounds): parsed once, since sympy is slow per call."""
        if self._dims is None:

            def kind(dim: Any) -> int | str | None:
                dim = sympy.sympify(dim)
                return int(dim) if dim.is_Integer else str(dim) if dim.is_Symbol else None

            self._dims = [tuple(kind(d) for d in decl.shape) for decl in self.def_.inputs]
        return self._dims

    def _pick_backend(self, device: str) -> str:
        if self.backend is not None:
            return self.backend
        if device.startswith("cuda"):
            return "triton"
        env = knobs.default_backend()
        if env:
            check_backend(env)
            return env
        return "cpu" if backend_registry.get_backend("cpu").available() else "interp"

    # -- execution -----------------------------------------------------------------------------
    def _run_interpreter(self, args: tuple, sizes: dict[str, int]) -> dict[str, np.ndarray]:
        return self._execute(backend_registry.REFERENCE, None, args, sizes, "cpu")

    def _execute(self, name: str, launch: Launch | None, args: tuple, sizes: dict[str, int],
                 device: str) -> dict[str, Any]:
        """Run a built launch (e.g. a tuning candidate; None: the interpreter) on checked
        arguments; outputs by name, as the backend wrote them."""
        infos = [arrays.describe(a) for a in args]
        return Plan.make(self, args, infos, sizes, name, launch, device).run(args)

    def _executable(self, name: str, sizes: dict[str, int]) -> Launch:
        """The launch for these sizes: from memory; else built with the schedule and config that
        `tensorc.tune` stored for them; else the default build of their size class (see
        `size_classes`): a new size in a class already built reuses its program and object code,
        only the buffer shapes are evaluated at the new sizes."""
        key = (name, tuple(sorted(sizes.items())))
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        from tensorc.autotune import lookup

        tuned = lookup(self.def_, self._backend_object(name), sizes)
        if tuned is None:
            cls = (name, size_class(self.def_, sizes))
            with self._lock:
                built = self._lowered.get(cls)
            if built is None:
                built = self._compile(name, sizes)
                with self._lock:
                    self._lowered[cls] = built
            launch = Launch.make(built.prog, built.exe, sizes)
        else:
            launch = self._compile(name, sizes, tuned.schedule, tuned.config)
        with self._lock:
            self._cache[key] = launch
        return launch

    def _compile(self, name: str, sizes: dict[str, int], schedule=None, config=None) -> Launch:
        """Lower with `schedule` (default: the heuristic one), build with `config` (default: the
        backend's first)."""
        from tensorc.ir.loop_ir import LoopProgram
        from tensorc.passes import to_loops

        backend = self._backend_object(name)
        target = "gpu" if name == "triton" else "cpu"
        key = self._program_key(name, backend, sizes, schedule)
        cached = store.read_pickle("program", key, (LoopProgram, bytes)) if key else None
        if cached is not None:
            prog, artifact = cached
            config = backend.space(prog)[0] if config is None else config
        else:
            prog = to_loops(self.def_, target=target, sizes=sizes, schedule=schedule)
            config = backend.space(prog)[0] if config is None else config
            artifact = backend.build(backend.render(prog, config), prog, config)
            if key:
                meta = {"def": self.def_.name, "sizes": sizes, "backend": name}
                store.write_pickle("program", key, (prog, artifact), meta)
        return Launch.make(prog, backend.load(artifact, prog, config), sizes)

    def _program_key(self, name: str, backend, sizes: dict[str, int], schedule) -> str | None:
        """Key of the lowered program and its object code in the kernel store, so a new process
        skips lowering and rendering (which the object cache alone needs for its key). Only for
        the cpu backend, whose object code does not depend on the config (threads are chosen at
        load time). The def's full text (names included), the sizes (with the default schedule:
        their size class, which says which are specialised), the schedule and a digest of
        tensorc's sources make the key."""
        if name != "cpu":
            return None
        key_sizes = size_class(self.def_, sizes) if schedule is None else sorted(sizes.items())
        return store.cache_key(def_=repr(self.def_), sizes=key_sizes,
                               schedule=repr(schedule), toolchain=backend.hash(),
                               target=backend.target(), code=store.code_digest())

    def _forget(self, name: str, sizes: dict[str, int]) -> None:
        """Drop the in-memory launch for these sizes (tuning changed the choice), and the plans
        that hold it."""
        with self._lock:
            self._cache.pop((name, tuple(sorted(sizes.items()))), None)
            self._plans.clear()

    @staticmethod
    def _backend_object(name: str):
        backend = backend_registry.get_backend(name)
        if not backend.available():
            raise BackendError(
                f"backend {name!r} is not available on this machine",
                hint=f"choose one of: {', '.join(backend_registry.CHOICES)}",
            )
        return backend

    def compile_time(self, *args: Any) -> float:
        """Seconds to build (or fetch) the kernel for these arguments, without running it."""
        infos = self._check_args(args)
        sizes = self._bind_sizes(infos, args)
        name = self._pick_backend(next((i.device for i in infos if i.kind == "torch"), "cpu"))
        start = time.perf_counter()
        self._launch(name, sizes)
        return time.perf_counter() - start


class Module:
    """The result of `tensorc.compile`: one attribute per def, in source order."""

    def __init__(self, program: Program, backend: str | None = None):
        check_backend(backend)
        self.program = program
        self.functions = {d.name: Function(d, backend) for d in program.defs}
        for fname, fn in self.functions.items():
            setattr(self, fname, fn)

    def __getitem__(self, name: str) -> Function:
        return self.functions[name]

    def __iter__(self):
        return iter(self.functions.values())

    def __repr__(self) -> str:
        return f"<tensorc module {self.program.file}: {', '.join(self.functions)}>"


def _signature_text(decl: TensorDecl) -> str:
    dims = ", ".join(str(d) for d in decl.shape)
    return f"{decl.dtype}({dims}) {decl.name}" if decl.shape else f"{decl.dtype} {decl.name}"


def _scalar_fits(actual: str, declared: str) -> bool:
    """Python numbers convert to any declared numeric type of their family or wider."""
    if actual == "bool":
        return True
    if is_int(actual):
        return declared != "bool"
    return is_float(declared)
