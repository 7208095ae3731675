"""Derivative rules: every differentiable builtin against finite differences, reductions whose
gradient selects one element (ties to the first, as the forward picks), prod with zeros, gathers
through argmin and index tensors, updates and masks."""

from __future__ import annotations

import numpy as np
import pytest

import tensorc
from tensorc.errors import ArgumentError, UnsupportedError
from tensorc.frontend import parse_program
from tensorc.grad import differentiate, gradient
from tensorc.grad.derivatives import derivative_rules
from tensorc.ir.ops import OPS
from tests.grad.harness import fd_check

# How each differentiable builtin is spelled in source, on x(i), y(i), z(i)
SPELLING = {
    "add": "x(i) + y(i)",
    "sub": "x(i) - y(i)",
    "mul": "x(i) * y(i)",
    "div": "x(i) / y(i)",
    "neg": "-x(i)",
    "pow": "pow(x(i), y(i))",
    "fma": "fma(x(i), y(i), z(i))",
    "select": "x(i) > 0.3 ? y(i) : z(i)",
    "cast": "float64(float32(x(i)))",
    "max": "max(x(i), y(i))",
    "fmax": "fmax(x(i), y(i))",
    "min": "min(x(i), y(i))",
    "fmin": "fmin(x(i), y(i))",
    "clamp": "clamp(x(i), y(i), z(i))",
    "relu": "relu(x(i) - 0.3)",
    "abs": "abs(x(i) - 0.3)",
    "mod": "x(i) % y(i)",
    # every one-argument math builtin (a new one is covered, or fails, by itself)
    **{fn: f"{fn}(x(i))" for fn, op in OPS.items() if op.arity == 1 and op.result == "float"},
    "sign": "sign(x(i))",
    "atan2": "atan2(x(i), y(i))",
    "floordiv": "float64(int32(x(i) * 10) // 3) * y(i)",
}
BOOLEAN = {"lt", "le", "gt", "ge", "eq", "ne", "and", "or", "not"}  # no float result


def test_every_rule_has_a_spelling():
    assert set(derivative_rules) - BOOLEAN == set(SPELLING)


@pytest.mark.parametrize("fn", sorted(set(SPELLING) - {"cast"}))
def test_builtin_derivative(fn):
    src = (
        "def f(float64(N) x, float64(N) y, float64(N) z) -> (o) {\n"
        f"    o(i) = {SPELLING[fn]}\n}}\n"
    )
    rng = np.random.default_rng(1)
    x = rng.uniform(0.2, 0.4, 5)  # away from every kink (0.3 excepted below) and rounding jump
    x[x.round(2) == 0.3] = 0.25
    y = rng.uniform(0.5, 0.7, 5)
    z = rng.uniform(0.45, 0.48, 5)
    fd_check(src, "f", args=[x, y, z])


def test_cast_passes_the_cotangent_in_the_argument_dtype():
    src = f"def f(float64(N) x) -> (o) {{ o(i) = {SPELLING['cast']} }}"
    cot = np.array([0.1, 1.0 / 3.0, 7.0])
    got = _grad(src, "f", [np.ones(3)], cot=cot)
    np.testing.assert_allclose(got, cot, rtol=1e-7)  # rounded through float32 on the way back
    assert not np.array_equal(got, cot)


def _grad(src: str, name: str, args: list, backend: str = "interp", wrt=None, cot=None):
    mod = tensorc.compile(src, backend=backend)
    g = tensorc.grad(mod[name], wrt=wrt)
    return g(*args) if cot is None else g(*args, cotangents=cot)


MAXES = """
def rmax(float64(N, M) X) -> (o) { o(i) max=! X(i, j) }
def rmin(float64(N, M) X) -> (o) { o(i) = min(j: X(i, j)) }
def kmin2(float64(N, M) X) -> (o) { o(i, r) = kmin(j: X(i, j), 2) }
def relu_update(float64(N, M) X) -> (o) {
    o(i, j) = X(i, j)
    o(i, j) = fmax(o(i, j), 0)
}
"""


@pytest.mark.parametrize("backend", ["interp", "cpu"])
def test_max_min_ties_go_to_the_first(backend):
    X = np.array([[1.0, 3.0, 3.0, 2.0], [5.0, 5.0, 5.0, 5.0], [4.0, 1.0, 0.5, 0.5]])
    want_max = np.array([[0, 1, 0, 0], [1, 0, 0, 0], [1, 0, 0, 0]], float)
    np.testing.assert_array_equal(_grad(MAXES, "rmax", [X], backend), want_max)
    want_min = np.array([[1, 0, 0, 0], [1, 0, 0, 0], [0, 0, 1, 0]], float)
    np.testing.assert_array_equal(_grad(MAXES, "rmin", [X], backend), want_min)


def test_max_without_ties_matches_torch():
    torch = pytest.importorskip("torch")
    X = np.random.default_rng(0).standard_normal((4, 6))
    t = torch.tensor(X, requires_grad=True)
    t.max(dim=1).values.sum().backward()
    np.testing.assert_array_equal(_grad(MAXES, "rmax", [X]), t.grad.numpy())


def test_kmin_passes_each_rank_to_its_element_with_ties():
    X = np.array([[3.0, 1.0, 1.0, 0.5]])
    cot = np.array([[10.0, 100.0]])  # rank 0 -> 0.5 at j=3, rank 1 -> the first 1.0 (j=1)
    np.testing.assert_array_equal(_grad(MAXES, "kmin2", [X], cot=cot), [[0, 100, 0, 10]])


def test_fmax_update_tie_at_zero_goes_to_the_first_argument():
    X = np.array([[-1.0, 0.0, 2.0]])
    np.testing.assert_array_equal(_grad(MAXES, "relu_update", [X]), [[0.0, 1.0, 1.0]])


def test_prod_with_zeros_does_not_divide():
    src = "def p(float64(N, M) X) -> (o) { o(i) *=! X(i, j) }"
    X = np.array([[2.0, 0.0, 3.0], [0.0, 0.0, 5.0], [1.0, 2.0, 4.0]])
    want = np.array([[0, 6, 0], [0, 0, 0], [8, 4, 2]], float)
    np.testing.assert_array_equal(_grad(src, "p", [X]), want)


GATHERS = """
def nn_gather(float64(N, D) x, float64(M, D) y) -> (o) {
    o(i, d) = y(argmin(j: sum(c: (x(i, c) - y(j, c)) * (x(i, c) - y(j, c)))), d)
}
def table(float64(E, W) T, int32(L) idx) -> (O) { O(l, w) = T(idx(l), w) }
"""


def test_gather_through_argmin_scatters_to_the_selected_rows():
    x = np.array([[0.0, 0.0], [1.0, 1.0], [0.1, 0.0]])
    y = np.array([[0.0, 0.1], [5.0, 5.0], [1.0, 0.9]])
    dx, dy = _grad(GATHERS, "nn_gather", [x, y])
    np.testing.assert_array_equal(dx, np.zeros_like(x))  # argmin is piecewise constant
    np.testing.assert_array_equal(dy, [[2, 2], [0, 0], [1, 1]])


@pytest.mark.parametrize("backend", ["interp", "loops", "cpu"])
def test_index_tensor_gather_scatter_adds(backend):
    T = np.arange(8.0).reshape(4, 2)
    idx = np.array([0, 3, 3, 1, 0], np.int32)
    cot = np.random.default_rng(0).standard_normal((5, 2))
    want = np.zeros((4, 2))
    np.add.at(want, idx, cot)
    got = _grad(GATHERS, "table", [T, idx], backend, wrt="T", cot=cot)
    np.testing.assert_allclose(got, want)


def test_index_inputs_have_no_gradient_and_the_error_names_them():
    d = parse_program(GATHERS).get("table")
    with pytest.raises(ArgumentError, match="'idx' is int32"):
        differentiate(d, ("idx",))
    with pytest.raises(ArgumentError, match="no such input"):
        differentiate(d, ("Q",))


def test_masked_update_passes_the_cotangent_where_not_written():
    src = """def f(float64(N) x) -> (o) {
        o(i) = x(i) * 2
        o(i) = o(i) * o(i) where i < 2
    }"""
    x = np.array([1.0, 2.0, 3.0, 4.0])
    np.testing.assert_allclose(_grad(src, "f", [x]), [8.0, 16.0, 2.0, 2.0])


def test_gradient_def_reparses_to_itself():
    from tensorc.ir.printer import print_def

    for src, name in ((GATHERS, "nn_gather"), (MAXES, "kmin2")):
        back = gradient(parse_program(src).get(name)).backward
        again = parse_program(print_def(back)).defs[0]
        assert print_def(again) == print_def(back)


def test_not_differentiable_reduction_raises():
    from tensorc.grad import reductions

    d = parse_program("def f(float64(N) x) -> (o) { o = sum(i: x(i)) }").defs[0]
    saved = reductions.reduce_rules.pop("sum")
    try:
        with pytest.raises(UnsupportedError, match="cannot differentiate sum"):
            differentiate(d)
    finally:
        reductions.reduce_rules["sum"] = saved


UPDATES = {
    "bias_relu": """def bias_relu(float64(B,M) I, float64(N,M) W, float64(N) c) -> (O) {
        O(b, n) +=! I(b, m) * W(n, m)
        O(b, n) += c(n)
        O(b, n) max= I(b, m) * c(n)
    }""",
    "partial_then_normalise": """def partial_then_normalise(float64(B,M) I, float64(N,M) W) -> (O, P) {
        O(b, n) = I(b, 0) * W(n, 0)
        O(b, n) += I(b, m) * W(n, m) where m in 1:M
        P(b) +=! O(b, n) * O(b, n)
        O(b, n) = O(b, n) / P(b)
    }""",
    "prod_then_min": """def prod_then_min(float64(N,M) X) -> (S) {
        S(i) *=! X(i, j)
        S(i) min= X(i, j) + 1.0
    }""",
    "scalar_update": """def scalar_update(float64(N,M) X, float64 t) -> (L) {
        L = sum(i: logsumexp(j: X(i, j) * t))
        L = L * L
    }""",
}


@pytest.mark.parametrize("backend", ["interp", "cpu"])
@pytest.mark.parametrize("name", sorted(UPDATES))
def test_multi_statement_updates(name, backend):
    fd_check(UPDATES[name], name, backend)
