"""normalize_sqdist: expanded squared distances take the Gram path's form (issue 11, item 5)."""

from __future__ import annotations

import numpy as np
import pytest
from support import require_backend

import tensorc
from tensorc.frontend import parse_program
from tensorc.ir.loop_printer import format_program
from tensorc.ir.printer import print_def
from tensorc.ir.tir_utils import alpha_key
from tensorc.passes import run_pipeline
from tensorc.passes.normalize_sqdist import normalize_sqdist
from tensorc.pipeline import to_loops

HEAD = "(float(N,D) x, float(N,D) y, float gamma) -> (k)"
SQ = "sum(d: (x(i,d) - x(j,d)) * (x(i,d) - x(j,d)))"
SAME = {  # x against itself: symmetric
    "one_statement": f"    k(i,j) = exp(-gamma * {SQ})",
    "norms_temp": "    n(i) = sum(d: x(i,d) * x(i,d))\n"
                  "    k(i,j) = exp(-gamma * (n(i) + n(j) - 2.0 * sum(d: x(i,d) * x(j,d))))",
    "gram_temp": "    g(i,j) = sum(d: x(i,d) * x(j,d))\n"
                 "    k(i,j) = exp(-gamma * (g(i,i) + g(j,j) - 2.0 * g(i,j)))",
    "pow_norms": "    n(i) = sum(d: pow(x(i,d), 2))\n"
                 "    k(i,j) = exp(-gamma * (n(i) - 2.0 * sum(d: x(i,d) * x(j,d)) + n(j)))",
    "terms_reordered": "    n(i) = sum(d: x(i,d) * x(i,d))\n"
                       "    k(i,j) = exp(-gamma * (n(j) - sum(d: x(j,d) * x(i,d)) * 2.0 + n(i)))",
}  # fmt: skip
OTHER = {  # not a squared distance: left alone
    "three_times": "    n(i) = sum(d: x(i,d) * x(i,d))\n"
                   "    k(i,j) = exp(-gamma * (n(i) + n(j) - 3.0 * sum(d: x(i,d) * x(j,d))))",
    "norm_mismatch": "    k(i,j) = exp(-gamma * (sum(d: x(i,d) * x(i,d)) + sum(d: x(j,d) * x(j,d))"
                     " - 2.0 * sum(d: x(i,d) * y(j,d))))",
}  # fmt: skip
SOURCE = "".join(f"def {n}{HEAD} {{\n{b}\n}}\n" for n, b in {**SAME, **OTHER}.items())
PROGRAM = parse_program(SOURCE)


def test_spellings_share_the_one_statement_form():
    keys = {n: alpha_key(run_pipeline(PROGRAM.get(n)).body[-1].rhs) for n in SAME}
    assert len(set(keys.values())) == 1, keys


@pytest.mark.parametrize("d", [8, 64])
@pytest.mark.parametrize("name", sorted(SAME))
def test_same_loops_as_the_one_statement_form(name, d):
    def text(n: str) -> str:
        prog = to_loops(PROGRAM.get(n), "cpu", {"N": 300, "D": d})
        return format_program(prog).replace(n, "f")

    assert text(name) == text("one_statement")
    assert "j in [i, N)" in text(name) or "local S" in text(name)  # symmetric loops or tiles


@pytest.mark.parametrize("name", sorted(OTHER))
def test_other_sums_are_left_alone(name):
    def_ = PROGRAM.get(name)
    assert normalize_sqdist(def_) == def_


@pytest.mark.parametrize("backend", ["loops", "cpu"])
def test_matches_the_interpreter(backend):
    require_backend(backend)
    got_mod, ref_mod = tensorc.compile(SOURCE, backend=backend), tensorc.compile(SOURCE, "interp")
    rng = np.random.default_rng(4)
    args = [rng.random((9, 3), dtype=np.float32), rng.random((9, 3), dtype=np.float32), 0.7]
    for name in (*SAME, *OTHER):
        want = ref_mod[name](*args)
        np.testing.assert_allclose(got_mod[name](*args), want, rtol=1e-4, atol=1e-5, err_msg=name)


MMD_NORMS = """
def mmd_norms(float(N,D) x, float gamma) -> (k) {
    n(i) = sum(d: x(i,d) * x(i,d))
    k = sum(i, j: exp(-gamma * (n(i) + n(j) - 2.0 * sum(d: x(i,d) * x(j,d)))))
}
"""


def test_a_norms_temp_kept_for_its_reader_loops_is_read_through():
    """`n` is read inside loops over (i, j), so inline_temps keeps it; the rewrite reads it as
    its definition, and the temp then goes dead."""
    after = run_pipeline(parse_program(MMD_NORMS).get("mmd_norms"))
    assert after.temps == () and len(after.body) == 1
    assert "(x(i, d) - x(j, d))" in print_def(after)


@pytest.mark.parametrize("backend", ["loops", "cpu"])
def test_mmd_norms_matches_the_interpreter(backend):
    require_backend(backend)
    got, ref = tensorc.compile(MMD_NORMS, backend=backend), tensorc.compile(MMD_NORMS, "interp")
    x = np.random.default_rng(6).random((11, 3), dtype=np.float32)
    np.testing.assert_allclose(got.mmd_norms(x, 0.5), ref.mmd_norms(x, 0.5), rtol=1e-4)
