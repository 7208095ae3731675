"""Random token streams and mutated programs: the front end raises only TensorcError."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from programs import ALL

from tensorc.errors import TensorcError
from tensorc.frontend import parse_program
from tensorc.ir.printer import print_program
from tensorc.ir.verifier import verify

TOKENS = [
    "def",
    "where",
    "in",
    "let",
    "exists",
    "->",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    ":",
    ";",
    "?",
    "=",
    "+=!",
    "*=!",
    "max=!",
    "min=!",
    "+=",
    "*=",
    "max=",
    "min=",
    "<=>",
    "+",
    "-",
    "*",
    "/",
    "//",
    "%",
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "&&",
    "||",
    "!",
    "#c\n",
    "\n",
    "float",
    "int32",
    "half",
    "bool",
    "sum",
    "max",
    "min",
    "argmin",
    "argkmin",
    "kmin",
    "softmax",
    "logsumexp",
    "exp",
    "fmax",
    "float32",
    "A",
    "B",
    "C",
    "N",
    "M",
    "i",
    "j",
    "k",
    "0",
    "1",
    "2",
    "0.5",
    "1e3",
]
SOURCES = sorted(ALL)


def _check(src: str) -> None:
    try:
        prog = parse_program(src, "fuzz.tc")
    except TensorcError as e:
        assert "internal error" not in e.message, str(e)
        str(e)  # formatting never fails
        return
    verify(prog)
    assert parse_program(print_program(prog)) == prog


@st.composite
def token_streams(draw):
    toks = draw(st.lists(st.sampled_from(TOKENS), max_size=40))
    body = " ".join(toks)
    if draw(st.booleans()):
        return f"def f(float(N, M) A, float(M) B, int32(N) I, float s) -> (C) {{ {body} }}"
    return body


@st.composite
def mutated_programs(draw):
    src = list(ALL[draw(st.sampled_from(SOURCES))])
    for _ in range(draw(st.integers(1, 4))):
        if not src:
            break
        pos = draw(st.integers(0, len(src) - 1))
        kind = draw(st.sampled_from(["delete", "duplicate", "swap", "insert"]))
        if kind == "delete":
            del src[pos]
        elif kind == "duplicate":
            src.insert(pos, src[pos])
        elif kind == "swap" and pos + 1 < len(src):
            src[pos], src[pos + 1] = src[pos + 1], src[pos]
        elif kind == "insert":
            src.insert(
                pos, draw(st.sampled_from(list("()[]{},:;=+-*/%<>!?&|#.0123456789ijkNMx \n")))
            )
    return "".join(src)


_TOKEN_RE = re.compile(r"[A-Za-z_][A-Za-z_0-9]*|\d+\.?\d*|\+=!|\*=!|<=>|->|//|[<>=!]=|&&|\|\||\S")


@st.composite
def token_mutations(draw):
    """Whole-token edits of valid programs: reach the checker, not just the parser."""
    toks = _TOKEN_RE.findall(ALL[draw(st.sampled_from(SOURCES))])
    for _ in range(draw(st.integers(1, 3))):
        pos = draw(st.integers(0, len(toks) - 1))
        kind = draw(st.sampled_from(["replace", "replace", "delete", "duplicate"]))
        if kind == "replace":
            toks[pos] = draw(st.sampled_from(TOKENS + toks))
        elif kind == "delete":
            del toks[pos]
        else:
            toks.insert(pos, toks[pos])
    return " ".join(toks)


_FAST = settings(max_examples=70, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_SLOW = settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_FAST
@given(token_streams())
def test_random_tokens_raise_only_tensorc_errors(src):
    _check(src)


@_FAST
@given(mutated_programs())
def test_mutated_programs_raise_only_tensorc_errors(src):
    _check(src)


@_FAST
@given(token_mutations())
def test_token_mutations_raise_only_tensorc_errors(src):
    _check(src)


@pytest.mark.slow
@_SLOW
@given(st.one_of(token_streams(), mutated_programs(), token_mutations()))
def test_fuzz_long(src):
    _check(src)
