"""Every workload and TC classic parses, checks, verifies, and prints stably."""

from __future__ import annotations

import pytest
import sympy
from programs import ALL, CLASSICS, WORKLOADS

from tensorc.frontend import parse_program
from tensorc.ir.hashing import structural_hash
from tensorc.ir.printer import print_program
from tensorc.ir.tensor_ir import Access, Call, Const, Index, Reduce, size_symbol
from tensorc.ir.verifier import verify, walk

N, M, D, E = (size_symbol(s) for s in "NMDE")


@pytest.mark.parametrize("name", sorted(ALL))
def test_parses_verifies_and_round_trips(name):
    prog = parse_program(ALL[name], f"{name}.tc")
    verify(prog)
    text = print_program(prog)
    again = parse_program(text, "printed.tc")
    assert again == prog
    assert print_program(again) == text
    assert [structural_hash(d) for d in again.defs] == [structural_hash(d) for d in prog.defs]


def _one(name):
    return parse_program(ALL[name]).defs[0]


def test_w1_implicit_sum_wraps_whole_rhs():
    d = _one("gauss_ksum")
    (st,) = d.body
    assert st.indices == ("i", "e")
    assert isinstance(st.rhs, Reduce) and st.rhs.op == "sum"
    assert [r.index for r in st.rhs.ranges] == ["j"]
    assert (st.rhs.ranges[0].lo, st.rhs.ranges[0].hi) == (0, M)
    assert st.rhs.body.fn == "mul"  # exp(...) * b(j, e) inside the sum
    assert d.outputs[0].shape == (N, E) and d.outputs[0].dtype == "float32"
    assert [(r.index, r.hi) for r in st.domain] == [("i", N), ("e", E)]


def test_w2_argmin_is_int64_and_argkmin_rank():
    assert _one("nn").outputs[0].dtype == "int64"
    d = _one("knn")
    idx, dist = d.outputs
    assert idx.dtype == "int64" and idx.shape == (N, 5)
    assert dist.dtype == "float32" and dist.shape == (N, 5)
    red = d.body[0].rhs
    assert red.op == "argkmin" and red.k == 5 and red.rank == "r"
    assert [r.index for r in red.ranges] == ["j"]


def test_w3_logsumexp():
    (st,) = _one("softmin").body
    reds = [x for x in walk(st.rhs) if isinstance(x, Reduce)]
    assert [r.op for r in reds] == ["logsumexp", "sum"]
    assert st.rhs.dtype == "float32"


def test_w4_temp_softmax_expansion_and_mask():
    d = _one("attention")
    assert [t.name for t in d.temps] == ["s"] and d.temps[0].role == "temp"
    assert d.temps[0].shape == tuple(size_symbol(s) for s in "BHNM")
    s_st, o_st = d.body
    assert s_st.rhs.op == "sum" and [r.index for r in s_st.rhs.ranges] == ["d"]
    outer = o_st.rhs
    assert outer.op == "sum" and [r.index for r in outer.ranges] == ["j"]
    assert outer.mask == Call("le", (Index("j"), Index("i")), "bool")
    inner = [x for x in walk(outer.body) if isinstance(x, Reduce)]
    assert len(inner) == 1 and inner[0].op == "logsumexp"
    j2 = inner[0].ranges[0].index
    assert j2 != "j" and inner[0].mask == Call("le", (Index(j2), Index("i")), "bool")
    assert o_st.mask is None


def test_lhs_only_mask_goes_to_statement_and_renamed_softmax():
    (st,) = _one("row_softmax_masked").body
    assert st.mask == Call("le", (Index("j"), Index("i")), "bool")
    (lse,) = [x for x in walk(st.rhs) if isinstance(x, Reduce)]
    assert lse.mask is not None and lse.ranges[0].index in {
        n.name for n in walk(lse.mask) if isinstance(n, Index)
    }


def test_gram_and_tucker():
    g = _one("gram")
    assert g.outputs[0].shape == (N, N)
    t = _one("tucker_core")
    assert [r.index for r in t.body[0].rhs.ranges] == ["i", "j", "k"]


def test_strided_conv_range():
    d = _one("strided_conv")
    H, KH = size_symbol("H"), size_symbol("KH")
    h = d.body[0].domain[2]
    assert sympy.simplify(h.hi - (sympy.floor((H - KH) / 2) + 1)) == 0
    assert d.outputs[0].shape[2] == h.hi


def test_fcrelu_in_place_updates():
    d = _one("fcrelu")
    assert [st.tensor for st in d.body] == ["O1"] * 3
    assert d.body[0].rhs.op == "sum"
    assert d.body[1].rhs.fn == "add" and d.body[2].rhs.fn == "fmax"
    assert d.body[2].rhs.args[1] == Const(0, "float32")  # weak literal takes float32


def test_compound_update_forms():
    d = _one("compound_updates")
    fns = [st.rhs.fn if isinstance(st.rhs, Call) else st.rhs.op for st in d.body]
    assert fns == ["sum", "add", "max", "min", "mul", "prod"]


def test_maxpool_where_ranges():
    st = _one("maxpool").body[0]
    assert st.rhs.op == "max"
    assert [(r.index, r.hi) for r in st.rhs.ranges] == [
        ("kh", size_symbol("KH")),
        ("kw", size_symbol("KW")),
    ]


def test_indirect_access_gets_range_from_index_tensor():
    st = _one("lut").body[0]
    assert [(r.index, r.hi) for r in st.rhs.ranges] == [("l", size_symbol("L"))]
    st = _one("gather").body[0]
    assert [(r.index, r.hi) for r in st.domain] == [
        ("l", size_symbol("L")),
        ("w", size_symbol("W")),
    ]


def test_dtypes_and_literals():
    prog = parse_program("""
def t(float(N) a, int32(N) b, half(N) h) -> (x, y, z, w, v, u) {
    x(i) = a(i) * 2 + 0.5
    y(i) = b(i) + 1
    z(i) = b(i) * 0.5
    w(i) = b(i) / b(i)
    v(i) = h(i) * 2
    u(i) = sum(j: h(j)) + h(i) * 0
}""")
    dt = {o.name: o.dtype for o in prog.defs[0].outputs}
    assert dt == {
        "x": "float32",
        "y": "int32",
        "z": "float64",
        "w": "float64",
        "v": "float16",
        "u": "float16",
    }


def test_index_division_is_floor_division():
    st = _one("kronecker").body[0]
    fns = {x.fn for x in walk(st.rhs) if isinstance(x, Call)}
    assert "floordiv" in fns and "mod" in fns and "div" not in fns


def test_size_used_as_value_is_weak_int():
    d = _one("batchnorm_moments")
    assert d.outputs[0].dtype == "float32"
    assert "N" in print_program(parse_program(ALL["concat"]))


def test_declared_output_cast_and_int_outputs():
    prog = parse_program("def f(float(N,M) A) -> (int32(N) i) { i(n) = argmax(m: A(n, m)) }")
    st = prog.defs[0].body[0]
    assert st.rhs.fn == "cast" and st.rhs.dtype == "int32"
    assert _one("int_outputs").outputs[0].dtype == "int32"


def test_scalar_outputs():
    d = _one("scalar_out")
    assert [(o.name, o.dtype, o.shape) for o in d.outputs] == [
        ("s", "float32", ()),
        ("count", "int32", ()),
    ]


def test_hash_ignores_layout_comments_and_names():
    a = parse_program("""
def attention(float(B,H,N,D) q, float(B,H,M,D) k, float(B,H,M,E) v, float scale) -> (o) {
    s(b,h,i,j) = q(b,h,i,d) * k(b,h,j,d) * scale
    o(b,h,i,e) = softmax(j: s(b,h,i,j)) * v(b,h,j,e)  where j <= i
}""").defs[0]
    b = parse_program("""def other(float(B,H,N,D) q, float(B,H,M,D) k,
        float(B,H,M,E) v, float scale) -> (o) {   # comment
        tmp(w, x, y, z) = q(w, x, y, c) * k(w, x, z, c) * scale
        o(w, x, y, f) = softmax(z: tmp(w, x, y, z)) * v(w, x, z, f) where z <= y }""").defs[0]
    c = parse_program(ALL["attention"].replace("j <= i", "j < i")).defs[0]
    assert structural_hash(a) == structural_hash(b)
    assert structural_hash(a) != structural_hash(c)
    assert len(structural_hash(a)) == 64


def test_multiple_defs_and_parse_file(tmp_path):
    from tensorc.frontend import parse_file

    src = "\n".join(WORKLOADS[n] for n in ("gram", "nn", "attention"))
    path = tmp_path / "w.tc"
    path.write_text(src)
    prog = parse_file(path)
    assert [d.name for d in prog.defs] == ["gram", "nn", "attention"]
    assert prog.get("nn").outputs[0].dtype == "int64"


def test_classics_unchanged_meaning_matmul():
    d = parse_program(CLASSICS["matmul"]).defs[0]
    (st,) = d.body
    assert st.rhs == Reduce(
        "sum",
        st.rhs.ranges,
        Call(
            "mul",
            (
                Access("A", (Index("m"), Index("k")), "float32"),
                Access("B", (Index("k"), Index("n")), "float32"),
            ),
            "float32",
        ),
        None,
        "float32",
    )


def test_verifier_rejects_broken_ir():
    import dataclasses

    d = parse_program(ALL["gram"]).defs[0]
    st = d.body[0]
    bad_rhs = dataclasses.replace(st.rhs, ranges=())
    bad = dataclasses.replace(d, body=(dataclasses.replace(st, rhs=bad_rhs),))
    with pytest.raises(AssertionError, match="reduction without ranges"):
        verify(bad)
    bad = dataclasses.replace(d, body=(dataclasses.replace(st, rhs=Index("q")),))
    with pytest.raises(AssertionError, match=r"(?s)def 'gram'.*def gram\("):
        verify(bad)
