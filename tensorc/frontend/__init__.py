"""Front ends: .tc source text -> checked TensorIR `Program`.

>>> from tensorc.frontend import parse_program
>>> prog = parse_program("def gram(float(N,D) x) -> (g) { g(i,j) = x(i,d) * x(j,d) }")
>>> prog.defs[0].name
'gram'
"""

from __future__ import annotations

import sys
from pathlib import Path

from tensorc.errors import TensorcError, UnsupportedError
from tensorc.ir.tensor_ir import Program

__all__ = ["parse_file", "parse_program"]


def parse_program(source: str, file: str = "<string>") -> Program:
    """Parse and check .tc source; raise a `TensorcError` (with file:line:col) on bad input."""
    from tensorc.frontend.parser import parse_module
    from tensorc.frontend.sema import check_module

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, _DEPTH))  # long sums `a + b + ...` are deep left-leaning trees
    try:
        return check_module(parse_module(source, file))
    except TensorcError:
        raise
    except RecursionError:
        raise UnsupportedError(
            f"{file}: expression nested too deeply",
            hint="split the expression into several statements with temporaries",
        ) from None
    except AssertionError:
        raise
    except Exception as e:
        raise UnsupportedError(
            f"{file}: internal error while checking this program: {e!r}",
            hint="please report this with the program",
        ) from e
    finally:
        sys.setrecursionlimit(limit)


_DEPTH = 20000  # Python frames for checking one program (~10 per nesting level)


def parse_file(path: str | Path) -> Program:
    """`parse_program` on a file's text, with the path in error messages."""
    path = Path(path)
    return parse_program(path.read_text(), str(path))
