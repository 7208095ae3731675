"""Unpickling limited to tensorc's IR: a second line of defence behind the owner check.

A cached program (LoopIR + object code) is a pickle. The store only reads files the user wrote
(trust.py); on top of that, `loads` resolves only classes of `tensorc.ir`, a few sympy expression
classes and plain builtin containers, so a pickle that names `os.system`, `builtins.eval` or any
other function fails to load (the store then drops the entry). Sympy classes other than Symbol
sympify their arguments, which parses (evaluates) strings: they are refused string arguments.
"""

from __future__ import annotations

import importlib
import io
import pickle
from typing import ClassVar

_BUILTINS = frozenset(
    {
        "tuple",
        "list",
        "dict",
        "set",
        "frozenset",
        "complex",
        "slice",
        "range",
        "bytes",
        "bytearray",
        "int",
        "float",
        "bool",
    }
)


class UnsafePickle(pickle.UnpicklingError):
    """The pickle names something outside the allowed IR classes."""


def _refuses_strings(cls) -> bool:
    """Sympy classes whose constructor sympifies (parses) string arguments; Symbol's name is
    a plain string."""
    import sympy

    return issubclass(cls, sympy.Basic) and not issubclass(cls, sympy.Symbol)


def _has_string(obj) -> bool:
    if isinstance(obj, (str, bytes)):
        return True
    if isinstance(obj, dict):
        return _has_string(tuple(obj)) or _has_string(tuple(obj.values()))
    if isinstance(obj, (tuple, list, set, frozenset)):
        return any(_has_string(x) for x in obj)
    return False


class _IRUnpickler(pickle._Unpickler):
    """The pure-Python unpickler (its opcode table can be extended): about 0.5 ms for a program
    that `pickle.loads` reads in 0.13 ms."""

    dispatch: ClassVar[dict] = dict(pickle._Unpickler.dispatch)

    def find_class(self, module: str, name: str):
        if module == "builtins" and name in _BUILTINS:
            return super().find_class(module, name)
        if module.startswith(("tensorc.ir.", "sympy.")) and "." not in name:
            import sympy

            obj = getattr(importlib.import_module(module), name, None)
            if isinstance(obj, type) and (
                module.startswith("tensorc.ir.") or issubclass(obj, sympy.Basic)
            ):
                return obj
        raise UnsafePickle(f"refusing to load {module}.{name} from the cache")

    def _check(self, cls, *args) -> None:
        if isinstance(cls, type) and _refuses_strings(cls) and _has_string(args):
            raise UnsafePickle(f"{cls.__name__} with a string argument")

    def load_newobj(self):
        self._check(self.stack[-2], self.stack[-1])
        super().load_newobj()

    def load_newobj_ex(self):
        self._check(self.stack[-3], self.stack[-2], self.stack[-1])
        super().load_newobj_ex()

    def load_reduce(self):
        self._check(self.stack[-2], self.stack[-1])
        super().load_reduce()

    dispatch[pickle.NEWOBJ[0]] = load_newobj
    dispatch[pickle.NEWOBJ_EX[0]] = load_newobj_ex
    dispatch[pickle.REDUCE[0]] = load_reduce


def loads(data: bytes):
    """`pickle.loads` for tensorc IR only (raises `pickle.UnpicklingError` otherwise)."""
    return _IRUnpickler(io.BytesIO(data)).load()


class _DataUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        raise UnsafePickle(f"refusing to load {module}.{name}: plain data expected")


def loads_data(data: bytes):
    """`pickle.loads` of plain data only (dicts, lists, strings, numbers): a pickle that names
    any class or function raises `pickle.UnpicklingError`, so it cannot run code."""
    return _DataUnpickler(io.BytesIO(data)).load()


def dumps(obj) -> bytes:
    return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
