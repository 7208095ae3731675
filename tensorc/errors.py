"""The one catalog of user-facing errors.

Every error a user can cause is a subclass of `TensorcError`. Source errors carry a `Span` and render
as `file:line:col`, the source line, a caret under the offending text, and a hint. Internal invariant
failures are plain `AssertionError`s and must never be raised as one of these.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Span:
    """A source position: 1-based line and column, the source line's text, and the span length."""

    file: str
    line: int
    col: int
    text: str = ""  # the whole source line, for the caret display
    length: int = 1

    def render(self) -> str:
        where = f"{self.file}:{self.line}:{self.col}"
        if not self.text:
            return where
        caret = " " * (self.col - 1) + "^" * max(1, min(self.length, len(self.text) - self.col + 1))
        return f"{where}\n    {self.text}\n    {caret}"


class TensorcError(Exception):
    """Base of every user-facing error. `str(err)` is the full, formatted message.

    Each kind is also the builtin exception a Python (numpy, torch) user would catch for it:
    shape, subscript and value errors are `ValueError`s, dtype and argument-type errors
    `TypeError`s, unknown names `NameError`s, constructs not compiled yet `NotImplementedError`s:

        >>> try:
        ...     tensorc.einsum("ij,jk", np.ones((2, 3)), np.ones((4, 5)))
        ... except ValueError as err:  # a tensorc.errors.ShapeError
        ...     print(err)
    """

    def __init__(self, message: str, span: Span | None = None, hint: str | None = None):
        self.message = message
        self.span = span
        self.hint = hint
        super().__init__(self.format())

    def format(self) -> str:
        parts = []
        if self.span is not None:
            head, _, rest = self.span.render().partition("\n")
            parts.append(f"{head}: error: {self.message}")
            if rest:
                parts.append(rest)
        else:
            parts.append(f"error: {self.message}")
        if self.hint:
            parts.append(f"hint: {self.hint}")
        return "\n".join(parts)


class ErrorGroup(TensorcError):
    """Several source errors found in one pass over a file (`tensorc check` prints them all)."""

    def __init__(self, errors: list[TensorcError]):
        self.errors = errors
        super().__init__("\n\n".join(e.format() for e in errors))

    def format(self) -> str:
        return "\n\n".join(e.format() for e in self.errors)


# --- source (front end) errors ------------------------------------------------------------------
class SyntaxError_(TensorcError, ValueError):
    """The text does not parse; the message names the tokens that were expected. Also a
    ValueError (numpy's kind for a malformed einsum subscript; not Python's own SyntaxError, whose
    traceback display reads its fields)."""


class NameError_(TensorcError, NameError):
    """Unknown tensor, function, index or size symbol (the hint offers a 'did you mean')."""


class ShapeError(TensorcError, ValueError):
    """Wrong number of indices, a size symbol bound twice, an out-of-range access."""


class RangeError(TensorcError, ValueError):
    """An index whose range cannot be inferred, or is ambiguous; the hint asks for a `where` range."""


class TypeError_(TensorcError, TypeError):
    """A dtype that does not fit: float used as an index, bad cast, bad reduction operand."""


class StatementError(TensorcError, ValueError):
    """`+=` on a tensor never defined, cyclic statements, an output never written."""


# --- call-time and build errors -------------------------------------------------------------
class ArgumentError(TensorcError):
    """A kernel called with the wrong arguments: count, rank, sizes, dtype, device. The runtime
    raises one of the two kinds below; this base catches both."""


class ArgumentTypeError(ArgumentError, TypeError):
    """An argument of the wrong type or dtype, a missing, extra or unknown (keyword) argument."""


class ArgumentValueError(ArgumentError, ValueError):
    """An argument whose value is not one of its choices (einsum's optimize=, casting=, order=,
    an optimize path that is not a path)."""


class ArgumentShapeError(ArgumentError, ShapeError):
    """An argument of the wrong rank or shape, sizes bound twice, an `out=` buffer that does not
    fit or aliases an input (also a `ShapeError`, so a `ValueError`)."""


class BackendError(TensorcError, ValueError):
    """Unknown or unavailable backend; the message lists the choices."""


class UnsupportedError(TensorcError, NotImplementedError):
    """A construct a backend or pass cannot compile yet; says what and where, never silent."""


class ScheduleError(TensorcError, ValueError):
    """An illegal schedule or tuning config (tile sizes, orders)."""


# --- warnings -------------------------------------------------------------------------------------
class TensorcWarning(UserWarning):
    """A likely mistake in a program that still has a meaning (filter with
    `warnings.simplefilter("error", tensorc.TensorcWarning)`; `tensorc check --strict` does)."""


def warn(message: str, span: Span | None = None, hint: str | None = None) -> None:
    """Issue a `TensorcWarning` formatted like an error: file:line:col, the line, a caret, a fix."""
    import warnings

    parts = []
    if span is not None:
        head, _, rest = span.render().partition("\n")
        parts.append(f"{head}: warning: {message}")
        if rest:
            parts.append(rest)
    else:
        parts.append(f"warning: {message}")
    if hint:
        parts.append(f"hint: {hint}")
    warnings.warn("\n".join(parts), TensorcWarning, stacklevel=2)
