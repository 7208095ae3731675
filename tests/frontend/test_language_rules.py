"""The language means what users write (LANGUAGE.md sections 2 and 5): Einstein's rule placed at the
product term, masks that travel with temporaries, weak scalars, warnings on likely mistakes.

Every spelling runs on every backend (Triton under TRITON_INTERPRET=1) against a numpy float64
reference; a hypothesis test compares random expressions with implicit indices to the same
expressions with the sums written where the rule places them.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tensorc
from tensorc.errors import StatementError, TensorcWarning
from tensorc.frontend import parse_program
from tensorc.ir.printer import print_def

BACKENDS = ["interp", "loops", "cpu", "triton"]
RNG = np.random.default_rng(10)


def _run(src: str, name: str, backend: str, *args):
    if backend == "triton":
        pytest.importorskip("triton")
    mod = tensorc.compile(src, backend=backend)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a fallback warning, if any, is not what is tested here
        return getattr(mod, name)(*args)


def _softmax_rows(s):
    w = np.exp(s - s.max(axis=-1, keepdims=True))
    return w / w.sum(axis=-1, keepdims=True)


def _f32(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def _close(got, want, rtol=2e-4):
    got = np.asarray(got)
    assert got.dtype == np.float32, got.dtype
    np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol * max(1.0, np.abs(want).max()))


# --- the examples, each against numpy ---------------------------------------------------
BIAS = "def f(float(M,K) A, float(K,N) B, float(N) bias) -> (C) { C(m,n) = A(m,k) * B(k,n) + bias(n) }"
ATTN = """def f(float(N,D) q, float(M,D) k, float(M,E) v) -> (o) {
    o(i,e) = softmax(j: q(i,d) * k(j,d)) * v(j,e)
}"""
ALIBI = """def f(float(N,D) q, float(N,D) k, float(N,E) v, float slope) -> (o) {
    s(i,j) = q(i,d) * k(j,d) * 0.25 - slope * (i - j) where j <= i
    o(i,e) = softmax(j: s(i,j)) * v(j,e)
}"""
CAUSAL_ON_TEMP = """def f(float(N,D) q, float(N,D) k, float(N,E) v) -> (o) {
    s(i,j) = q(i,d) * k(j,d) * 0.25 where j <= i
    o(i,e) = softmax(j: s(i,j)) * v(j,e)
}"""
CENTER = "def f(float(N,D) x) -> (y) { y(i,e) = x(i,e) - x(i,c) / D }"


@pytest.mark.parametrize("backend", BACKENDS)
def test_bias_is_added_once(backend):
    a, b, bias = _f32(5, 7), _f32(7, 3), _f32(3)
    want = a.astype(np.float64) @ b + bias
    _close(_run(BIAS, "f", backend, a, b, bias), want)


@pytest.mark.parametrize("backend", BACKENDS)
def test_softmax_sums_d_inside(backend):
    q, k, v = _f32(6, 4), _f32(9, 4), _f32(9, 3)
    want = _softmax_rows(q.astype(np.float64) @ k.T) @ v
    _close(_run(ATTN, "f", backend, q, k, v), want)


@pytest.mark.parametrize("backend", BACKENDS)
def test_alibi_score_temp_is_float32_and_causal(backend):
    q, k, v = _f32(7, 4), _f32(7, 4), _f32(7, 3)
    i, j = np.indices((7, 7))
    s = q.astype(np.float64) @ k.T * 0.25 - 0.5 * (i - j)
    s = np.where(j <= i, s, -np.inf)
    _close(_run(ALIBI, "f", backend, q, k, v, np.float32(0.5)), _softmax_rows(s) @ v)


@pytest.mark.parametrize("backend", BACKENDS)
def test_causal_mask_on_the_score_temp(backend):
    q, k, v = _f32(8, 4), _f32(8, 4), _f32(8, 3)
    i, j = np.indices((8, 8))
    s = np.where(j <= i, q.astype(np.float64) @ k.T * 0.25, -np.inf)
    _close(_run(CAUSAL_ON_TEMP, "f", backend, q, k, v), _softmax_rows(s) @ v)


@pytest.mark.parametrize("backend", ["interp", "cpu"])
def test_masked_output_read_later_keeps_its_mask(backend):
    """Exposing the masked scores as an output changes nothing for the statements that read them:
    the mask travels (outputs keep it too: the caller sees 0 where it fails)."""
    src = CAUSAL_ON_TEMP.replace("-> (o)", "-> (s, o)")
    q, k, v = _f32(6, 4), _f32(6, 4), _f32(6, 3)
    i, j = np.indices((6, 6))
    s = q.astype(np.float64) @ k.T * 0.25
    got_s, got_o = _run(src, "f", backend, q, k, v)
    _close(got_s, np.where(j <= i, s, 0))
    _close(got_o, _softmax_rows(np.where(j <= i, s, -np.inf)) @ v)


def test_causal_mask_on_the_temp_is_the_w4_plan():
    """The mask on the score temporary compiles to the same program as the mask on the reader:
    the temporary is fused away (never stored) and the mask becomes loop bounds."""
    on_reader = CAUSAL_ON_TEMP.replace(" where j <= i\n", "\n").replace(
        "v(j,e)\n}", "v(j,e) where j <= i\n}"
    )
    a, b = (parse_program(s).defs[0] for s in (CAUSAL_ON_TEMP, on_reader))
    assert print_def(a) == print_def(b)
    plan = tensorc.explain(CAUSAL_ON_TEMP, "f")
    assert "never stored" in plan and "flash" in plan


@pytest.mark.parametrize("backend", BACKENDS)
def test_centering_subtracts_the_mean(backend):
    x = _f32(5, 6)
    want = x - x.astype(np.float64).mean(axis=1, keepdims=True)
    _close(_run(CENTER, "f", backend, x), want)


def test_index_only_inside_exp_is_an_error_showing_both_spellings():
    src = """def f(float(N,D) x, float(M,D) y, float(M,E) b) -> (o) {
    o(i,e) = exp(-(x(i,d) - y(j,d)) * (x(i,d) - y(j,d))) * b(j,e)
}"""
    with pytest.raises(StatementError) as info:
        parse_program(src, "k.tc")
    text = str(info.value)
    assert "k.tc:2:" in text and "implicit index 'd'" in text and "^" in text
    assert "sum(d: exp(" in text and "exp(sum(d: " in text


@pytest.mark.parametrize(
    "rhs, explicit",
    [
        ("relu(W(i,j) * x(j))", None),
        ("exp(-gamma * sum(d: (x(i,d) - x(j,d)) * (x(i,d) - x(j,d))))", None),
        ("W(i,j) * x(j) + 1", "sum(j: W(i,j) * x(j)) + 1"),
        ("-W(i,j) * x(j) / 2", "sum(j: -W(i,j) * x(j) / 2)"),
        ("float32(W(i,j)) * x(j) - W(i,k) * x(k)",
         "sum(j: float32(W(i,j)) * x(j)) - sum(k: W(i,k) * x(k))"),
        ("W(i,j) + W(i,j)", "sum(j: W(i,j) + W(i,j))"),
        ("exp(W(i,j)) * x(j)", "sum(j: exp(W(i,j)) * x(j))"),
        ("max(j: W(i,j) * x(k)) * x(k)", "sum(k: max(j: W(i,j) * x(k)) * x(k))"),
        ("W(i,j) > 0 ? 1 : 0", None),  # a count, or a test of the row sum? (comparisons too)
        ("j <= i ? W(i,j) : 0", "sum(j: j <= i ? W(i,j) : 0)"),
        ("W(i,j) > 0 ? W(i,j) : 0", "sum(j: W(i,j) > 0 ? W(i,j) : 0)"),
    ],
)
def test_placement_table(rhs, explicit):
    head = "def f(float(N,N) W, float(N) x, float gamma) -> (o) { o(i) = "
    if explicit is None:
        with pytest.raises(StatementError, match="implicit index"):
            parse_program(head + rhs + " }")
        return
    got = parse_program(head + rhs + " }").defs[0]
    want = parse_program(head + explicit + " }").defs[0]
    assert print_def(got) == print_def(want)


# --- weak scalars (TC's dtypes) ----------------------------------------------------------------
@pytest.mark.parametrize(
    "src, dtype",
    [
        ("def f(float(N) a) -> (o) { o(i) = 4.0 where i in 0:N }", "float32"),
        ("def f(float(N) a) -> (o) { o(n0, n1) = n0 + n1 + N where n0 in 0:N, n1 in 0:N }", "int32"),
        ("def f(float(N, M) a) -> (o) { o(n) min=! r_n where r_n in 0:M, n in 0:N }", "int32"),
        ("def f(float(N) a) -> (o) { o(i) = a(i) + i * 0.5 + N }", "float32"),
        ("def f(half(N) a) -> (o) { o(i) = a(i) * (i < 3 ? 2 : 1) }", "float16"),
        ("def f(int8(N) a) -> (o) { o(i) = a(i) + i }", "int8"),
    ],
)
def test_weak_scalars(src, dtype):
    decl = parse_program(src).defs[0].outputs[0]
    assert decl.dtype == dtype
    n = 5
    in_dtype = np.float16 if "half(" in src else np.int8 if "int8(" in src else np.float32
    args = [np.arange(n * 3, dtype=np.float32).reshape(n, 3)] if "float(N, M)" in src else [
        (np.arange(n) - 2).astype(in_dtype)
    ]
    for backend in ("interp", "cpu"):
        out = _run(src, "f", backend, *args)
        assert out.dtype == np.dtype(dtype), (backend, out.dtype)


def test_tc_min_over_index_values():
    src = "def f(float(N, M) a) -> (o) { o(n) min=! r_n + n where r_n in 0:M, n in 0:N }"
    a = np.zeros((4, 6), np.float32)
    for backend in ("interp", "loops", "cpu"):
        np.testing.assert_array_equal(_run(src, "f", backend, a), np.arange(4, dtype=np.int32))


# --- warnings and locations -------------------------------------------------------------------
def test_division_warning_and_strict_check(tmp_path):
    src = """def la(float(N,D) pq, float(M,D) pk, float(M,E) v) -> (o) {
    o(i,e) = pq(i,d) * pk(j,d) * v(j,e) / (pq(i,d) * pk(j,d))
}
"""
    with pytest.warns(TensorcWarning, match="both sides of '/'") as rec:
        parse_program(src, "la.tc")
    assert "la.tc:2:14" in str(rec[0].message) and "sum(d, j: " in str(rec[0].message)
    path = tmp_path / "la.tc"
    path.write_text(src)
    from tensorc.cli import main

    assert main(["check", str(path)]) == 0
    assert main(["check", "--strict", str(path)]) == 1


def test_temp_read_outside_a_reduction_warns():
    src = """def f(float(N) a) -> (o) {
    t(i) = a(i) * 2 where i < 3
    o(i) = t(i) + 1
}"""
    with pytest.warns(TensorcWarning, match="outside a reduction"):
        parse_program(src)
    a = np.arange(5, dtype=np.float32)
    np.testing.assert_allclose(_run(src, "f", "interp", a), [1, 3, 5, 0, 0])


def test_int_literal_beyond_int64_is_an_error():
    with pytest.raises(tensorc.TensorcError, match="does not fit in int64"):
        parse_program("def f(int32(N) A) -> (B) { B(i) = A(i) + 99999999999999999999999 }")


def test_overflowing_literal_warns():
    with pytest.warns(TensorcWarning, match="overflows float16"):
        parse_program("def f(half(N) a) -> (o) { o(i) = a(i) > 0 ? a(i) : -1e30 }")


@pytest.mark.parametrize("sep", ["\r\n", "\r", "\f\n", "\n\f"])
def test_caret_line_with_carriage_returns_and_form_feeds(sep):
    src = f"def f(float(N) A) -> (B) {{{sep}  B(i) = A(i){sep}  B(i) = Q(i){sep}}}"
    with pytest.raises(tensorc.TensorcError) as info:
        parse_program(src, "cr.tc")
    lines = str(info.value).splitlines()
    line = src.count("\n", 0, src.index("Q(i)")) + 1
    assert lines[0].startswith(f"cr.tc:{line}:")
    assert lines[2].index("^") == lines[1].index("Q(i)")


@pytest.mark.parametrize("n", [1000, 6000])
def test_deep_expressions_keep_their_location(n):
    src = "def f(float(N) A) -> (B) {\n  B(i) = " + " + ".join(["A(i)"] * n) + "\n}"
    try:
        parse_program(src, "deep.tc")
    except tensorc.TensorcError as e:
        assert str(e).startswith("deep.tc:2:3:"), str(e)[:200]


# --- hypothesis: implicit sums == the sums written where the rule places them --------------------
_FACTORS = ["A(i,j)", "B(j,k)", "C(i,k)", "u(j)", "w(k)", "2.0", "A(i,k)"]


@st.composite
def _expressions(draw, depth=0):
    if depth > 2 or draw(st.integers(0, 3)) == 0:
        return draw(st.sampled_from(_FACTORS))
    op = draw(st.sampled_from(["*", "*", "+", "-", "/", "neg"]))
    a = draw(_expressions(depth + 1))
    if op == "neg":
        return f"-({a})"
    b = draw(_expressions(depth + 1))
    if op == "/":
        b = f"(2.5 + {b} * {b})"  # keep denominators away from zero
    return f"({a} {op} {b})"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_expressions())
def test_random_implicit_sums_match_their_explicit_form(expr):
    src = f"def f(float(N,N) A, float(N,N) B, float(N,N) C, float(N) u, float(N) w) -> (o) {{ o(i) = {expr} }}"
    try:
        d = parse_program(src).defs[0]
    except StatementError:
        return  # an index only inside a nonlinear argument (here: only `/` denominators)
    except tensorc.TensorcError:
        return  # e.g. j and k unused: nothing to compare
    text = print_def(d)
    explicit = text.split(" = ", 1)[1].rsplit(" where ", 1)[0]
    n = 4
    env = {k: RNG.standard_normal((n, n)) for k in "ABC"} | {k: RNG.standard_normal(n) for k in "uw"}
    args = [env[k].astype(np.float32) for k in "ABCuw"]
    explicit_src = src.replace(f"o(i) = {expr}", f"o(i) = {explicit}")
    got = _run(src, "f", "interp", *args)
    want = _run(explicit_src, "f", "interp", *args)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    # and numerically against numpy: sum each implicit index at its term
    ref = _numpy_placed(expr, {k: v.astype(np.float64) for k, v in zip("ABCuw", args)}, n)
    np.testing.assert_allclose(got, ref, rtol=2e-4, atol=2e-4 * max(1.0, np.abs(ref).max()))


def _numpy_placed(expr: str, env: dict, n: int) -> np.ndarray:
    """An independent numpy evaluation of Einstein's rule on Python's own parse of `expr`: each
    implicit index (j, k) is summed at the common ancestor of its uses, widened while the parent
    is `*`, `/` or unary minus; arrays carry axes (i, j, k)."""
    import ast

    names = {"A(i,j)": "A_ij", "B(j,k)": "B_jk", "C(i,k)": "C_ik", "u(j)": "u_j", "w(k)": "w_k",
             "A(i,k)": "A_ik"}
    for k, v in names.items():
        expr = expr.replace(k, v)
    root = ast.parse(expr, mode="eval").body

    def kids(node):
        if isinstance(node, ast.BinOp):
            return [node.left, node.right]
        if isinstance(node, ast.UnaryOp):
            return [node.operand]
        return []

    def product(node):
        return isinstance(node, ast.UnaryOp) or (
            isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mult, ast.Div)))

    def uses(node, x, path=()):
        if isinstance(node, ast.Name):
            return [path] if x in node.id.split("_")[1] else []
        return [p for c, kid in enumerate(kids(node)) for p in uses(kid, x, (*path, c))]

    def at(path):
        node = root
        for c in path:
            node = kids(node)[c]
        return node

    place = {}
    for x in "jk":
        paths = uses(root, x)
        if not paths:
            continue
        lca = paths[0]
        for q in paths[1:]:
            m = 0
            while m < min(len(lca), len(q)) and lca[m] == q[m]:
                m += 1
            lca = lca[:m]
        while lca and product(at(lca[:-1])):
            lca = lca[:-1]
        place.setdefault(lca, []).append("ijk".index(x))

    def value(node, path=()):
        if isinstance(node, ast.Name):
            name, ix = node.id.split("_")
            out = env[name].reshape([n if a in ix else 1 for a in "ijk"])
        elif isinstance(node, ast.Constant):
            out = np.full((1, 1, 1), float(node.value))
        elif isinstance(node, ast.UnaryOp):
            out = -value(node.operand, (*path, 0))
        else:
            a, b = value(node.left, (*path, 0)), value(node.right, (*path, 1))
            ops = {ast.Mult: np.multiply, ast.Div: np.divide, ast.Add: np.add, ast.Sub: np.subtract}
            out = ops[type(node.op)](a, b)
        for ax in place.get(path, ()):
            out = np.broadcast_to(out, [n if a == ax else out.shape[a] for a in range(3)])
            out = out.sum(axis=ax, keepdims=True)
        return out

    return np.broadcast_to(value(root), (n, 1, 1)).reshape(n)
