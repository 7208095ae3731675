"""Where program text comes from: `tensorc explain` and `tensorc.explain(...)` take a path to a
`.tc` file or the source text itself, and decide which in one place.

A string (or `os.PathLike`) naming a file that exists is read; anything else is parsed as source.
A parse error on a one-line string that looks like a path says the file does not exist.

Example:
    >>> program = parse_path_or_source("examples/w07_gram.tc")
    >>> program = parse_path_or_source("def mm(float(M,K) A, float(K,N) B) -> (C) { ... }")
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from tensorc.errors import SyntaxError_, TensorcError
from tensorc.ir.tensor_ir import Program

__all__ = ["looks_like_path", "parse_path_or_source", "read_path_or_source"]

_PATHLIKE = re.compile(r"^[\w.~/\\:-]+$")  # one word of path characters: no spaces or brackets


def looks_like_path(text: str) -> bool:
    """True for one line of path characters with a '/' or a file suffix (`w07_gram.tc`)."""
    text = text.strip()
    return bool(_PATHLIKE.match(text)) and ("/" in text or "\\" in text or "." in text)


def read_path_or_source(source: str | os.PathLike, file: str = "<string>") -> tuple[str, str]:
    """(text, file name for messages): a path that exists is read, other text is the source."""
    if isinstance(source, os.PathLike) or ("\n" not in source and "{" not in source):
        path = Path(source)
        try:
            if path.is_file():
                return path.read_text(), str(source)
        except OSError as err:
            raise TensorcError(f"cannot read {source}: {err.strerror}") from None
        if isinstance(source, os.PathLike):
            raise TensorcError(f"no file {str(source)!r}", hint="check the path")
    return str(source), file


def parse_path_or_source(source: str | os.PathLike, file: str = "<string>") -> Program:
    """The checked program of a `.tc` path or of source text (see `read_path_or_source`)."""
    from tensorc.frontend import parse_program

    text, where = read_path_or_source(source, file)
    try:
        return parse_program(text, where)
    except SyntaxError_ as err:
        if where == file and looks_like_path(text):
            raise SyntaxError_(
                err.message,
                err.span,
                hint=f"{text.strip()!r} is not a file that exists here (cwd {os.getcwd()}); "
                "pass a path to a .tc file or the program's source text",
            ) from None
        raise
