"""One test per user error: the message shows file:line:col, the source line, a caret and a hint."""

from __future__ import annotations

import pytest

from tensorc.errors import (
    ErrorGroup,
    NameError_,
    RangeError,
    ShapeError,
    StatementError,
    SyntaxError_,
    TensorcError,
    TypeError_,
)
from tensorc.frontend import parse_program


def _err(src: str, kind: type, *fragments: str) -> TensorcError:
    with pytest.raises(kind) as info:
        parse_program(src, "bad.tc")
    err = info.value
    text = str(err)
    assert err.span is not None or isinstance(err, ErrorGroup)
    for frag in fragments:
        assert frag in text, f"{frag!r} not in:\n{text}"
    return err


def _located(err: TensorcError, line: int, col: int, source_line: str) -> None:
    text = str(err)
    assert f"bad.tc:{line}:{col}: error:" in text
    assert source_line in text.splitlines()[1]
    caret = text.splitlines()[2]
    assert caret.strip().startswith("^") and caret.index("^") == 4 + col - 1
    assert "hint: " in text


def test_syntax_error_names_expected_tokens():
    src = "def f(float(N) A) -> (B) {\n    B(i) = A(i) +\n}"
    err = _err(src, SyntaxError_, "unexpected '}'", "expected", "a name", "a number")
    _located(err, 3, 1, "}")


def test_syntax_error_bad_character():
    err = _err("def f(float(N) A) -> (B) { B(i) = A(i) $ 2 }", SyntaxError_, "unexpected character")
    _located(err, 1, 40, "B(i) = A(i) $ 2")


def test_syntax_error_end_of_input():
    _err("def f(float(N) A) -> (B) { B(i) = A(i)", SyntaxError_, "end of input", "'}'")


def test_unknown_tensor_did_you_mean():
    src = "def f(float(N) input) -> (B) {\n    B(i) = inptu(i)\n}"
    err = _err(src, NameError_, "unknown tensor or function 'inptu'", "did you mean 'input'")
    _located(err, 2, 12, "B(i) = inptu(i)")


def test_unknown_function_did_you_mean():
    err = _err("def f(float(N) A) -> (B) { B(i) = tnah(A(i)) }", NameError_, "did you mean 'tanh'")
    _located(err, 1, 35, "tnah")


def test_unknown_reduction():
    _err(
        "def f(float(N,M) A) -> (B) { B(i) = summ(j: A(i,j)) }",
        NameError_,
        "unknown reduction 'summ'",
        "did you mean 'sum'",
    )


def test_unknown_index_in_where():
    err = _err(
        "def f(float(N,M) A) -> (B) { B(i) = A(i, j) where jj in 0:M }",
        NameError_,
        "unknown index 'jj'",
        "did you mean 'j'",
    )
    _located(err, 1, 51, "where jj")
    _err(
        "def f(float(N,M) A) -> (B) { B(i) = A(i, j) where k < 2 }",
        NameError_,
        "unknown index or tensor 'k'",
    )


def test_wrong_number_of_indices():
    err = _err(
        "def f(float(N,M) A) -> (B) {\n  B(i) = A(i)\n}",
        ShapeError,
        "'A' has 2 dimension(s) but is indexed with 1",
        "float32(N, M)",
    )
    _located(err, 2, 10, "A(i)")
    _err("def f(float(N) A) -> (float(N,N) B) { B(i) = A(i) }", ShapeError, "written with 1")


def test_lhs_index_without_range():
    err = _err(
        "def f(float(N) A) -> (B) { B(i, k) = A(i) }",
        RangeError,
        "cannot infer the range of index 'k'",
        "where k in",
    )
    _located(err, 1, 33, "B(i, k)")


def test_different_extents_intersect_with_a_warning():
    """TC's rule: accesses implying different extents give their intersection; two different
    size symbols warn (file:line:col, caret, the `where` fix), and a `where` range silences it."""
    from tensorc.errors import TensorcWarning

    src = "def f(float(N) A, float(M) B) -> (C) { C(i) = A(i) + B(i) }"
    with pytest.warns(TensorcWarning) as rec:
        prog = parse_program(src, "bad.tc")
    text = str(rec[0].message)
    assert "bad.tc:1:" in text and "index 'i'" in text and "min(N, M)" in text
    assert "where i in" in text and "^" in text
    assert str(prog.defs[0].outputs[0].shape[0]) == "Min(M, N)"
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", TensorcWarning)
        parse_program(src.replace("}", "where i in 0:N }").replace("float(M)", "float(N)"))


def test_access_no_range_was_solved_from_must_be_in_bounds():
    """TC's RuntimeCheckOnDerivedSize / TCC: i + j may pass I's extent."""
    _err(
        "def f(float(N, NM, M) I) -> (O) { O(i, j) = I(i, i + j, j) }",
        ShapeError,
        "dimension 1",
        "i + j",
        "where",
    )


def test_plus_equal_on_undefined_tensor():
    err = _err(
        "def f(float(N,M) A) -> (B) {\n    B(i) += A(i, j)\n}",
        StatementError,
        "no earlier statement defined",
        "use +=! to initialise",
    )
    _located(err, 2, 5, "B(i) += A(i, j)")


def test_cyclic_statements():
    src = "def f(float(N) A) -> (B) {\n    B(i) = t(i)\n    t(i) = A(i) + B(i)\n}"
    err = _err(src, StatementError, "'t' is read before any statement defines it", "line 3")
    _located(err, 2, 12, "B(i) = t(i)")


def test_read_of_own_first_definition():
    _err("def f(float(N) A) -> (B) { B(i) = B(i) + A(i) }", StatementError, "read before")


def test_float_tensor_as_index():
    err = _err(
        "def f(float(N) A, float(N) X) -> (B) { B(i) = A(X(i)) }",
        TypeError_,
        "float32 value used as an index",
        "int64(",
    )
    _located(err, 1, 49, "A(X(i))")


def test_bool_arithmetic():
    _err(
        "def f(float(N) A) -> (B) { B(i) = (A(i) > 0) + 1 }",
        TypeError_,
        "arithmetic 'add' on a bool",
        "int32(a < b)",
    )
    _err("def f(float(N) A) -> (B) { B(i) = A(i) && A(i) }", TypeError_, "needs bool operands")
    _err("def f(float(N) A) -> (B) { B(i) = A(i) ? 1 : 2 }", TypeError_, "must be bool")


def test_duplicate_param_names():
    err = _err(
        "def f(float(N) A, float(N) A) -> (B) { B(i) = A(i) }",
        NameError_,
        "duplicate parameter name 'A'",
    )
    _located(err, 1, 28, "float(N) A, float(N) A")
    _err("def f(float(N) A) -> (A) { A(i) = 1 }", NameError_, "duplicate parameter name")


def test_unknown_dtype():
    err = _err(
        "def f(flaot(N) A) -> (B) { B(i) = A(i) }",
        TypeError_,
        "unknown dtype 'flaot'",
        "did you mean 'float'",
    )
    _located(err, 1, 7, "flaot(N) A")


def test_output_with_unbound_size():
    _err(
        "def f(float(Batch) A) -> (float(Bath) B) { B(i) = A(i) }",
        NameError_,
        "'Bath' is not a size symbol",
        "did you mean 'Batch'",
    )


def test_lhs_index_reduced_explicitly():
    _err(
        "def f(float(N) A) -> (B) { B(i) = sum(i: A(i)) }",
        StatementError,
        "index 'i' is on the left-hand side and also reduced",
        "rename the reduction index",
    )


def test_output_never_written():
    _err("def f(float(N) A) -> (B, C) { B(i) = A(i) }", StatementError, "'C' is never written")


def test_kmin_needs_rank_index():
    _err(
        "def f(float(N,M) A) -> (B) { B(i) = kmin(j: A(i, j), 3) }",
        StatementError,
        "exactly one left-hand index",
    )


def test_store_float_into_int_output():
    _err(
        "def f(float(N) A) -> (int32(N) B) { B(i) = A(i) * 2 }",
        TypeError_,
        "cannot store a float32 value into int32",
        "int32(...)",
    )


def test_range_bound_must_use_sizes():
    _err("def f(float(N) A) -> (B) { B(i) = A(i) where i in 0:Q }", NameError_, "'Q' is not a size")


def test_assign_to_input():
    _err(
        "def f(float(N) A) -> (B) { A(i) = 1\n B(i) = A(i) }", StatementError, "cannot be assigned"
    )


def test_several_errors_are_grouped():
    src = """
def f(float(N) A) -> (B) { B(i) = A(i) + }
"""
    _err(src, SyntaxError_)
    src = """
def f(float(N) A) -> (B) { B(i) = nope(i) }
def g(float(N) A) -> (B) { B(i) = A(i, i) }
def h(flaot(N) A, float(N) A) -> (B) { B(i) = A(i) }
"""
    err = _err(src, ErrorGroup, "bad.tc:2:", "bad.tc:3:", "bad.tc:4:", "unknown dtype", "duplicate")
    assert len(err.errors) == 4
    assert all(isinstance(e, TensorcError) for e in err.errors)


def test_unsupported_tc_builtin():
    from tensorc.errors import UnsupportedError

    _err("def f(float(N) A) -> (B) { B(i) = fmod(A(i), 2) }", UnsupportedError, "'fmod'")


def test_keyword_as_name():
    _err("def f(float(N) A) -> (B) { B(let) = A(let) }", SyntaxError_, "keyword")
