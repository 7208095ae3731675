"""The public Python API: `compile`, `load`, `einsum`, `einsum_path`, `jit`, `explain`."""

from __future__ import annotations

import functools
import inspect
import os
import re
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tensorc.errors import ArgumentTypeError, TensorcError
from tensorc.runtime import arrays, call_args, einsum_call
from tensorc.runtime.module import Function, Module, check_backend, remembered


def compile(source: str, backend: str | None = None, file: str = "<string>") -> Module:
    """Compile `.tc` source into a module with one callable per def.

    Args:
        source: the program text (one or more `def`s).
        backend: "cpu", "triton", "loops", "interp", or None to pick per call from the inputs' device.
        file: the name errors report.

    Example:
        >>> mod = tensorc.compile("def mm(float(M,K) A, float(K,N) B) -> (C) { C(m,n) = A(m,k) * B(k,n) }")
        >>> C = mod.mm(A, B)
    """
    from tensorc.frontend import parse_program

    check_backend(backend)
    return Module(parse_program(source, file), backend)


def load(path: str | Path, backend: str | None = None) -> Module:
    """Compile a `.tc` file: `tensorc.load("examples/w07_gram.tc").gram(x)`."""
    path = Path(path)
    try:
        source = path.read_text()
    except OSError as err:
        raise TensorcError(f"cannot read {path}: {err.strerror}") from None
    return compile(source, backend, file=str(path))


# The tensor a statement assigns: `name`, `name(...)` or `name[...]` at a line start, then an
# assignment operator.
_LHS = re.compile(r"^\s*([A-Za-z_]\w*)\s*(?:[\(\[][^=\n]*?[\)\]])?\s*(?:\+|\*|max|min)?=!?(?!=)", re.MULTILINE)

_EINSUM_CALLS: dict[tuple, Function] = {}  # (subscripts, backend, *signatures) -> its def


def einsum(subscripts: Any, *operands: Any, out: Any = None, dtype: Any = None, order: str = "K",
           casting: str = "safe", optimize: Any = "auto", backend: str | None = None) -> Any:
    """numpy.einsum, compiled: implicit output, `...`, repeated indices, any number of operands
    and of distinct indices, numpy's dtype promotion, and numpy's signature.

    Args:
        subscripts: "bij,jk->bik"-style subscripts, or numpy's interleaved form
            `einsum(a, [0, 1], b, [1, 2], [0, 2])` (int labels: no 52-letter limit).
        operands: numpy arrays, torch tensors, or anything numpy.asarray takes (lists, scalars).
        out: an array to write the result into (dtype, shape checked; must not share memory
            with an operand); returned.
        dtype: compute and return in this dtype (operands cast under `casting`, as numpy does).
        order: "K", "A" or "C" give a C-contiguous result, "F" a Fortran-ordered one.
        casting: numpy's rule for `dtype=` and `out=` conversions ("safe" by default).
        optimize: "auto" (default): one compiled program whose pairwise order the compiler plans.
            Anything else is handed to the contraction planner and the path runs step by step:
            True or "greedy", "optimal", "dp", "branch-2", "random-greedy", ... (numpy's and
            opt_einsum's names), (strategy, memory_limit), False (the written order, left to
            right), or an explicit path such as `['einsum_path', (0, 1), (0, 1)]`.
        backend: "cpu", "triton", "loops", "interp"; None picks by the operands' device.

    Example:
        >>> tensorc.einsum("bij,jk,bkl->bil", a, b, c)
        >>> tensorc.einsum("ij,jk", [[1, 2]], [[3], [4]], dtype=np.float64)
    """
    if (out is None and dtype is None and order in ("K", "A", "C") and casting == "safe"
            and isinstance(subscripts, str) and isinstance(optimize, str) and optimize == "auto"):
        signature = tuple(map(arrays.signature, operands))
        if None not in signature:  # arrays and tensors: the def is remembered per signature
            key = (subscripts, backend, signature)
            fn = remembered(_EINSUM_CALLS, key, lambda: _einsum_function(subscripts, operands,
                                                                        backend))
            return fn(*operands)
    check_backend(backend)
    return einsum_call.einsum((subscripts, *operands), out, dtype, order, casting, optimize,
                              backend)


def einsum_path(subscripts: Any, *operands: Any, optimize: Any = "auto") -> tuple[list, str]:
    """numpy.einsum_path: the pairwise contraction path the planner picks, and a report.

    `optimize` takes `einsum`'s values; "auto" is the planner's own choice (optimal for a few
    operands, dynamic programming, then greedy), the one the compiled program starts from. The
    path can be passed back: `einsum(eq, *ops, optimize=path)`.

    Example:
        >>> path, text = tensorc.einsum_path("ij,jk,kl->il", a, b, c, optimize="greedy")
        >>> path
        ['einsum_path', (1, 2), (0, 1)]
    """
    return einsum_call.einsum_path((subscripts, *operands), optimize)


def einsum_function(subscripts: str, *operands: Any, backend: str | None = None) -> Function:
    """The compiled `Function` that `einsum(subscripts, *operands)` runs (the default
    `optimize="auto"` path), e.g. to tune it: later einsum calls with these shapes and dtypes
    run the tuned kernel.

    Example:
        >>> fn = tensorc.api.einsum_function("ij,jk->ik", a, b)
        >>> tensorc.tune(fn, a, b)       # the same as tensorc.tune(tensorc.einsum, "ij,jk->ik", a, b)
    """
    signature = tuple(map(arrays.signature, operands))
    key = None if None in signature else (subscripts, backend, signature)
    return remembered(_EINSUM_CALLS, key, lambda: _einsum_function(subscripts, operands, backend))


def _einsum_function(subscripts: str, operands: tuple, backend: str | None) -> Function:
    """The compiled def for these operands' shapes and dtypes (checked here)."""
    check_backend(backend)
    infos = []
    for pos, op in enumerate(operands):
        try:
            info = arrays.describe(op)
        except TypeError:
            raise ArgumentTypeError(
                f"einsum operand {pos}: expected an array or tensor, got {type(op).__name__}"
            ) from None
        if info.dtype is None:
            raise ArgumentTypeError(f"einsum operand {pos}: unsupported dtype {info.raw_dtype}")
        infos.append(info)
    return einsum_call.compiled(subscripts, infos, None, backend)


class JitFunction:
    """A Python function whose docstring (or string statements) holds tensorc equations.

    The signature is built at call time from the arguments: each array argument becomes a tensor
    parameter of its dtype, each dimension a size symbol (dimensions of equal size share a symbol,
    so equations that tie them compile; different sizes used with one index are an error). Each
    distinct combination of dtypes, ranks and size-equalities compiles once.
    """

    def __init__(self, fn: Callable, outputs: tuple[str, ...] | None, backend: str | None):
        check_backend(backend)
        self.fn = fn
        self.params = list(inspect.signature(fn).parameters)
        self.body = _equations_of(fn)
        self.outputs = outputs
        self.backend = backend
        self._compiled: dict[tuple, Function] = {}  # dtypes, ranks, size equalities -> def
        self._calls: dict[tuple, Function] = {}  # argument signatures -> the same (fast path)
        functools.update_wrapper(self, fn)

    def __call__(self, *args: Any, out: Any = None, **kwargs: Any) -> Any:
        if out is not None and "out" in self.params:  # a parameter named `out` wins
            kwargs, out = {**kwargs, "out": out}, None
        if kwargs:
            args = call_args.bind_keywords(self.fn.__name__, self.params, args, kwargs)
        key = tuple(map(arrays.signature, args))
        key = None if None in key else key
        fn = remembered(self._calls, key, lambda: self._function(args))
        return fn(*args) if out is None else fn(*args, out=out)

    def function(self, *args: Any) -> Function:
        """The compiled `Function` a call with these arguments runs (for `tensorc.tune`,
        `compile_time`, or to keep): `gram.function(x)(x)` is `gram(x)`."""
        return self._function(args)

    def _function(self, args: tuple) -> Function:
        """The compiled def for these arguments' dtypes, ranks and size equalities."""
        if len(args) != len(self.params):
            raise ArgumentTypeError(
                f"{self.fn.__name__}() takes {len(self.params)} argument(s) "
                f"({', '.join(self.params)}), got {len(args)}"
            )
        infos = []
        for name, arg in zip(self.params, args):
            try:
                infos.append(arrays.describe(arg))
            except TypeError:
                raise ArgumentTypeError(
                    f"argument {name!r}: expected an array, tensor or number, "
                    f"got {type(arg).__name__}"
                ) from None
        signature, key = self._signature(infos)
        fn = self._compiled.get(key)
        if fn is None:
            source = f"def {self.fn.__name__}({signature}) -> ({', '.join(self._outputs())}) {{\n"
            source += textwrap.indent(self.body, "    ") + "\n}\n"
            fn = compile(source, self.backend, file=_source_file(self.fn)).functions[
                self.fn.__name__
            ]
            self._compiled[key] = fn
        return fn

    def _signature(self, infos: list[arrays.ArgInfo]) -> tuple[str, tuple]:
        float_dtype = next(
            (i.dtype for i in infos if i.kind != "scalar" and i.dtype and "float" in i.dtype),
            "float64",
        )
        float_dtype = "float32" if float_dtype in ("float16", "bfloat16") else float_dtype
        symbols: dict[int, str] = {}
        parts, key = [], []
        for name, info in zip(self.params, infos):
            if info.dtype is None:
                raise ArgumentTypeError(f"argument {name!r}: unsupported dtype {info.raw_dtype}")
            if info.kind == "scalar":
                dtype = float_dtype if info.dtype == "float64" else info.dtype
                parts.append(f"{dtype} {name}")
                key.append((dtype,))
                continue
            dims = [symbols.setdefault(n, f"S{len(symbols)}") for n in info.shape]
            parts.append(f"{info.dtype}({', '.join(dims)}) {name}")
            key.append((info.dtype, tuple(dims)))
        return ", ".join(parts), tuple(key)

    def _outputs(self) -> tuple[str, ...]:
        if self.outputs:
            return self.outputs
        assigned = [t for t in dict.fromkeys(_LHS.findall(self.body)) if t not in self.params]
        if not assigned:
            raise TensorcError(
                f"{self.fn.__name__}: the equations assign no tensor",
                hint='write the equations in the docstring, e.g. "g(i,j) = x(i,d) * x(j,d)"',
            )
        return (assigned[-1],)


def jit(fn: Callable | None = None, *, outputs: tuple[str, ...] | None = None,
        backend: str | None = None):
    """Decorate a function whose docstring holds tensorc equations; call it with arrays.

    The output is the tensor assigned by the last statement unless `outputs=` names them; other
    assigned tensors are temporaries. numpy in -> numpy out, torch in -> torch out.

    Example:
        >>> @tensorc.jit
        ... def gram(x):
        ...     "g(i, j) = x(i, d) * x(j, d)"
        >>> g = gram(np.random.rand(100, 3).astype(np.float32))
    """
    if fn is None:
        return lambda f: JitFunction(f, outputs, backend)
    return JitFunction(fn, outputs, backend)


def explain(source: str | os.PathLike, def_name: str | None = None, target: str = "cpu",
            sizes: dict[str, int] | None = None, file: str = "<string>") -> str:
    """The kernel plan for a def, in words: kernels, loops, fusions, buffers, costs.

    `source` is a path to a `.tc` file (read when it exists) or the program's text.

    Example:
        >>> print(tensorc.explain("examples/w07_gram.tc", sizes={"N": 4096, "D": 3}))
    """
    from tensorc.explain import explain as explain_def
    from tensorc.sources import parse_path_or_source

    program = parse_path_or_source(source, file)
    defs = [program.get(def_name)] if def_name else list(program.defs)
    return "\n\n".join(explain_def(d, target=target, sizes=sizes) for d in defs)


def _equations_of(fn: Callable) -> str:
    """The docstring and any other string-literal statements of the body, in order."""
    import ast

    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    except (OSError, TypeError, SyntaxError):
        return inspect.getdoc(fn) or ""
    body = tree.body[0].body if tree.body and hasattr(tree.body[0], "body") else []
    texts = [
        stmt.value.value
        for stmt in body
        if isinstance(stmt, ast.Expr) and isinstance(getattr(stmt, "value", None), ast.Constant)
        and isinstance(stmt.value.value, str)
    ]
    return textwrap.dedent("\n".join(textwrap.dedent(t) for t in texts)).strip()


def _source_file(fn: Callable) -> str:
    try:
        return f"{inspect.getsourcefile(fn)}:{fn.__name__}"
    except TypeError:
        return f"<jit {fn.__name__}>"
