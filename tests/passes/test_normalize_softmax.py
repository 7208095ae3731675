"""normalize_softmax: every softmax spelling becomes one normal form (issue 11, item 1)."""

from __future__ import annotations

import numpy as np
import pytest
from support import require_backend

import tensorc
from tensorc.frontend import parse_program
from tensorc.ir.tir_utils import alpha_key
from tensorc.passes import run_pipeline
from tensorc.passes.normalize_softmax import normalize_softmax

HEAD = "(float(B,N,D) q, float(B,N,D) k, float(B,N,E) v, float scale) -> (o)"
S = "s(b,i,j) = sum(d: q(b,i,d) * k(b,j,d)) * scale"
FULL = {
    "softmax_temp": f"{S}\n o(b,i,e) = sum(j: softmax(j: s(b,i,j)) * v(b,j,e))",
    "one_statement": "o(b,i,e) = sum(j: softmax(j: sum(d: q(b,i,d) * k(b,j,d)) * scale) * v(b,j,e))",
    "exp_over_sum": f"{S}\n o(b,i,e) = sum(j: exp(s(b,i,j)) * v(b,j,e)) / sum(j: exp(s(b,i,j)))",
    "lse_temp": f"{S}\n l(b,i) = logsumexp(j: s(b,i,j))\n"
    " o(b,i,e) = sum(j: exp(s(b,i,j) - l(b,i)) * v(b,j,e))",
    "max_and_normaliser": f"{S}\n m(b,i) = max(j: s(b,i,j))\n"
    " z(b,i) = sum(j: exp(s(b,i,j) - m(b,i)))\n"
    " o(b,i,e) = sum(j: exp(s(b,i,j) - m(b,i)) * v(b,j,e)) / z(b,i)",
    "normaliser_inside": f"{S}\n z(b,i) = sum(j: exp(s(b,i,j)))\n"
    " o(b,i,e) = sum(j: exp(s(b,i,j)) * v(b,j,e) / z(b,i))",
    "scale_outside": "s(b,i,j) = sum(d: q(b,i,d) * k(b,j,d))\n"
    " o(b,i,e) = sum(j: softmax(j: s(b,i,j) * scale) * v(b,j,e))",
    "lse_inline": f"{S}\n o(b,i,e) = sum(j: exp(s(b,i,j) - logsumexp(j: s(b,i,j))) * v(b,j,e))",
}
CAUSAL = {
    "where_mask": f"{S}\n o(b,i,e) = sum(j: softmax(j: s(b,i,j)) * v(b,j,e))  where j <= i",
    "ternary_temp": "s(b,i,j) = j <= i ? sum(d: q(b,i,d) * k(b,j,d)) * scale : -1e30\n"
    " o(b,i,e) = sum(j: softmax(j: s(b,i,j)) * v(b,j,e))",
    "inverted_ternary": "s(b,i,j) = j > i ? -1e9 : sum(d: q(b,i,d) * k(b,j,d)) * scale\n"
    " o(b,i,e) = sum(j: softmax(j: s(b,i,j)) * v(b,j,e))",
    "exp_over_sum_where": f"{S}\n"
    " o(b,i,e) = sum(j: exp(s(b,i,j)) * v(b,j,e)) / sum(j: exp(s(b,i,j)))  where j <= i",
}
# the literals make this one float64 until literals are weakly typed: compared on its own
ADDITIVE = {"additive_mask": f"{S}\n"
            " o(b,i,e) = sum(j: softmax(j: s(b,i,j) + (j <= i ? 0.0 : -1e30)) * v(b,j,e))"}  # fmt: skip
# j < i leaves row 0 without a j: the ternary (uniform weights there) is not the mask (0)
STRICT = {"strict": "s(b,i,j) = j < i ? sum(d: q(b,i,d) * k(b,j,d)) * scale : -1e30\n"
          " o(b,i,e) = sum(j: softmax(j: s(b,i,j)) * v(b,j,e))"}  # fmt: skip


def _source(family: dict[str, str]) -> str:
    return "\n".join(f"def {n}{HEAD} {{\n {body}\n}}" for n, body in family.items())


def _normal(src: str, name: str):
    after = run_pipeline(parse_program(src).get(name))
    assert len(after.body) == 1, name
    return alpha_key(after.body[0].rhs), after.body[0].rhs


@pytest.mark.parametrize("family", [FULL, CAUSAL], ids=["full", "causal"])
def test_every_spelling_has_one_normal_form(family):
    src = _source(family)
    keys = {n: _normal(src, n)[0] for n in family}
    first = next(iter(keys.values()))
    assert all(k == first for k in keys.values()), [n for n, k in keys.items() if k != first]


def test_additive_mask_becomes_a_domain_mask():
    from tensorc.ir.tensor_ir import Call
    from tensorc.ir.tir_utils import walk

    _, rhs = _normal(_source(ADDITIVE), "additive_mask")
    assert rhs.mask is not None and not any(
        isinstance(x, Call) and x.fn == "select" for x in walk(rhs)
    )


def test_ternary_that_empties_a_row_is_kept():
    src = _source(STRICT)
    def_ = parse_program(src).get("strict")
    _, rhs = _normal(src, "strict")
    assert rhs.mask is None  # the -1e30 ternary stays in the score
    assert normalize_softmax(normalize_softmax(def_)) == normalize_softmax(def_)


@pytest.mark.parametrize("backend", ["loops", "cpu"])
@pytest.mark.parametrize(
    "family", [FULL, CAUSAL, ADDITIVE, STRICT], ids=["full", "causal", "additive", "strict"]
)
def test_spellings_match_the_interpreter(backend, family):
    require_backend(backend)
    src = _source(family)
    got_mod, ref_mod = tensorc.compile(src, backend=backend), tensorc.compile(src, backend="interp")
    rng = np.random.default_rng(3)
    B, N, D, E = 2, 7, 4, 3
    args = [rng.standard_normal(s).astype(np.float32) for s in ((B, N, D), (B, N, D), (B, N, E))]
    args.append(0.5)
    for name in family:
        want, got = ref_mod[name](*args), got_mod[name](*args)
        if name == "strict":  # row 0 has only -1e30 scores: lse(-1e30 + log N) rounds either way
            want, got = want[:, 1:], got[:, 1:]
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5, err_msg=name)
