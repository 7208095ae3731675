"""explain names the rewrites it applied and, in `not fused:`, each fast path a spelling misses
and why -- never "(everything fused as planned)" for a plan that is not (issue 11, item 6)."""

from __future__ import annotations

from tensorc.explain import explain
from tensorc.frontend import parse_program

SOURCE = """
def exp_over_sum(float(B,N,D) q, float(B,N,D) k, float(B,N,E) v) -> (o) {
    s(b,i,j) = sum(d: q(b,i,d) * k(b,j,d))
    o(b,i,e) = sum(j: exp(s(b,i,j)) * v(b,j,e)) / sum(j: exp(s(b,i,j)))
}
def score_reads_e(float(B,N,D) q, float(B,N,D) k, float(B,N,E) v) -> (o) {
    o(b,i,e) = sum(j: softmax(j: sum(d: q(b,i,d) * k(b,j,d)) + v(b,i,e)) * v(b,j,e))
}
def strict_ternary(float(B,N,D) q, float(B,N,D) k, float(B,N,E) v) -> (o) {
    s(b,i,j) = j < i ? sum(d: q(b,i,d) * k(b,j,d)) : -1e30
    o(b,i,e) = sum(j: softmax(j: s(b,i,j)) * v(b,j,e))
}
def lower_triangle(float(M,K) A, float(K,N) B) -> (C) {
    C(m,n) = sum(k: A(m,k) * B(k,n))  where k <= m
}
def mlp(float(B,K) x, float(K,H) W1, float(H) b1, float(H,O) W2) -> (y) {
    y(b,o) = sum(j: relu(sum(k: x(b,k) * W1(k,j)) + b1(j)) * W2(j,o))
}
"""
PROGRAM = parse_program(SOURCE)
ATT = {"B": 1, "N": 256, "D": 32, "E": 32}
FINE = "(everything fused as planned)"


def _section(text: str, name: str) -> str:
    """The lines after `name:` (`not fused` is the last section)."""
    return text.split(f"\n{name}:\n", 1)[1]


def test_rewrites_are_named():
    text = explain(PROGRAM.get("exp_over_sum"), "cpu", ATT)
    assert "normalize_softmax: rewrote o" in text and "blocked as flash attention" in text
    assert FINE in text


def test_flash_miss_is_reported_with_its_reason():
    text = explain(PROGRAM.get("score_reads_e"), "cpu", ATT)
    assert "not on the flash path" in _section(text, "not fused") and FINE not in text


def test_ternary_mask_that_keeps_empty_rows_is_reported():
    text = explain(PROGRAM.get("strict_ternary"), "cpu", ATT)
    assert "not a domain mask" in _section(text, "not fused") and FINE not in text


def test_masked_sum_of_products_reports_no_gemm():
    text = explain(PROGRAM.get("lower_triangle"), "cpu", {"M": 64, "N": 64, "K": 64})
    assert "not lowered to a Gemm: it is masked" in text and FINE not in text


def test_stored_gemm_operand_is_a_choice_not_a_miss():
    text = explain(PROGRAM.get("mlp"), "cpu", {"B": 64, "K": 64, "H": 64, "O": 64})
    assert "extract_operands: rewrote y" in text
    assert FINE in text
