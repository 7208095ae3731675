"""Contraction planner: opt_einsum's path costs, GEMM layouts, and numpy execution."""

from __future__ import annotations

import numpy as np
import opt_einsum as oe
import pytest

from tensorc.errors import ScheduleError, ShapeError
from tensorc.passes.plan_contractions import Plan, execute_plan, plan, step_as_bmm


def random_network(seed: int, n: int, max_size: int = 4):
    """n operands with 1-3 indices each over a shared pool (each index in >= 1 operand)."""
    rng = np.random.default_rng(seed)
    pool = [oe.get_symbol(i) for i in range(max(2, int(1.3 * n)))]
    inputs = []
    for _ in range(n):
        k = int(rng.integers(1, 4))
        inputs.append("".join(rng.choice(pool, size=k, replace=False)))
    used = sorted(set("".join(inputs)))
    counts = {c: "".join(inputs).count(c) for c in used}
    singles = [c for c in used if counts[c] == 1]
    extra = [c for c in used if counts[c] > 1 and rng.random() < 0.15]
    output = "".join(rng.permutation(singles + extra)) if singles or extra else ""
    sizes = {c: int(rng.integers(1, max_size + 1)) for c in used}
    return inputs, output, sizes


def oe_cost(inputs, output, sizes, method):
    shapes = [tuple(sizes[c] for c in t) for t in inputs]
    eq = ",".join(inputs) + "->" + output
    return oe.contract_path(eq, *shapes, shapes=True, optimize=method)[1].opt_cost


def operands(inputs, sizes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(tuple(sizes[c] for c in t)) for t in inputs]


@pytest.mark.parametrize("seed", range(14))
def test_small_networks_match_optimal_cost_and_execute(seed):
    n = 3 + seed % 6  # 3..8 operands
    inputs, output, sizes = random_network(seed, n)
    p = plan(inputs, output, sizes)
    assert p.method == "optimal"
    assert p.flops == oe_cost(inputs, output, sizes, "optimal")
    assert len(p.steps) == n - 1
    ops = operands(inputs, sizes, seed)
    ref = oe.contract(",".join(inputs) + "->" + output, *ops)
    np.testing.assert_allclose(execute_plan(p, ops), ref, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("n", [10, 13, 16, 25, 40])
def test_large_networks_no_worse_than_greedy(n):
    inputs, output, sizes = random_network(100 + n, n, max_size=3)
    p = plan(inputs, output, sizes)
    assert p.flops <= oe_cost(inputs, output, sizes, "greedy")
    assert len(p.steps) == n - 1
    if n <= 13:
        ops = operands(inputs, sizes)
        ref = oe.contract(",".join(inputs) + "->" + output, *ops)
        np.testing.assert_allclose(execute_plan(p, ops), ref, rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("method", ["optimal", "dynamic_programming", "greedy", "random_greedy"])
def test_explicit_methods_execute(method):
    inputs, output, sizes = (
        ["ijk", "ia", "jb", "kc"],
        "abc",
        {"i": 4, "j": 5, "k": 6, "a": 2, "b": 3, "c": 2},
    )
    p = plan(inputs, output, sizes, method=method)
    ops = operands(inputs, sizes)
    np.testing.assert_allclose(execute_plan(p, ops), np.einsum("ijk,ia,jb,kc->abc", *ops))
    assert p.method == method


def test_memory_limit_is_respected():
    inputs, output = ["ab", "bc", "cd", "de"], "ae"
    sizes = {"a": 2, "b": 50, "c": 50, "d": 50, "e": 2}
    free = plan(inputs, output, sizes)
    capped = plan(inputs, output, sizes, memory_limit=100)
    assert capped.largest_intermediate <= 100
    assert capped.largest_intermediate <= free.largest_intermediate


def test_trivial_plans_diagonals_and_batch():
    a = np.random.default_rng(3).standard_normal((3, 3, 4))
    p1 = plan(["iij"], "j", {"i": 3, "j": 4})
    assert p1.steps == () and p1.method == "trivial"
    np.testing.assert_allclose(execute_plan(p1, [a]), np.einsum("iij->j", a))
    b = np.random.default_rng(4).standard_normal((2, 3, 4))
    c = np.random.default_rng(5).standard_normal((4, 2, 5))
    p2 = plan(["bij", "jbk"], "bki", {"b": 2, "i": 3, "j": 4, "k": 5})
    (s,) = p2.steps
    assert (s.batch, s.contracted, s.out_indices) == ("b", "j", "bki")
    g = step_as_bmm(s)
    assert (g.batch, g.m, g.n, g.k) == ("b", "i", "k", "j")
    assert g.dims({"b": 2, "i": 3, "j": 4, "k": 5}) == (2, 3, 5, 4)
    np.testing.assert_allclose(execute_plan(p2, [b, c]), np.einsum("bij,jbk->bki", b, c))
    # indices only in one operand are summed before the GEMM
    p3 = plan(["ijx", "jky"], "ik", {"i": 2, "j": 3, "k": 4, "x": 2, "y": 3})
    g3 = step_as_bmm(p3.steps[0])
    assert (g3.lhs_sum, g3.rhs_sum) == ("x", "y")
    ops = operands(["ijx", "jky"], {"i": 2, "j": 3, "k": 4, "x": 2, "y": 3})
    np.testing.assert_allclose(execute_plan(p3, ops), np.einsum("ijx,jky->ik", *ops))


def test_describe_and_frozen():
    p = plan(["ij", "jk", "kl"], "il", {"i": 10, "j": 100, "k": 5, "l": 10})
    text = p.describe()
    assert "optimal" in text and "bmm" in text and text.count("\n") == 2
    assert isinstance(p, Plan) and hash(p) == hash(
        plan(["ij", "jk", "kl"], "il", {"i": 10, "j": 100, "k": 5, "l": 10})
    )


def test_errors():
    with pytest.raises(ShapeError, match="no size"):
        plan(["ij", "jk"], "ik", {"i": 2, "j": 3})
    with pytest.raises(ShapeError, match="in no operand"):
        plan(["ij", "jk"], "iz", {"i": 2, "j": 3, "k": 4})
    with pytest.raises(ScheduleError, match="choose one of"):
        plan(["ij", "jk", "kl"], "il", {"i": 2, "j": 3, "k": 4, "l": 2}, method="magic")
