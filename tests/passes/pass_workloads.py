"""The workload suite as hand-built TensorIR, each with random inputs and a numpy reference."""

from __future__ import annotations

import numpy as np
from tir_build import A, call, decl, define, ix, lift, red, rng, sqdist, st

F = "float32"


def w1():
    body = call("exp", -sqdist(("x", "i", "d"), ("y", "j", "d")) / (2 * A("sigma") * A("sigma")))
    rhs = red("sum", [rng("j", "M")], body * A("b", "j", "e"))
    d = define(
        "gauss_ksum",
        [decl("x", ("N", "D")), decl("y", ("M", "D")), decl("b", ("M", "E")), decl("sigma")],
        [decl("out", ("N", "E"), role="output")],
        [st("out", "ie", [rng("i", "N"), rng("e", "E")], rhs)],
    )

    def ref(x, y, b, sigma):
        d2 = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
        return {"out": np.exp(-d2 / (2 * sigma * sigma)) @ b}

    return d, ref


def w2(k: int = 0):
    dist = sqdist(("x", "i", "d"), ("y", "j", "d"))
    ins = [decl("x", ("N", "D")), decl("y", ("M", "D"))]
    if k:
        rhs = red("argkmin", [rng("j", "M")], dist, k=k, rank="r")
        out = decl("idx", ("N", k), "int64", "output")
        body = [st("idx", "ir", [rng("i", "N"), rng("r", k)], rhs)]
    else:
        rhs = red("argmin", [rng("j", "M")], dist)
        out = decl("idx", ("N",), "int64", "output")
        body = [st("idx", "i", [rng("i", "N")], rhs)]
    d = define("nn", ins, [out], body)

    def ref(x, y):
        d2 = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
        if k:
            top = np.argsort(d2, axis=1, kind="stable")[:, :k]
            pad = np.full((d2.shape[0], k), -1, dtype=np.int64)
            pad[:, : top.shape[1]] = top
            return {"idx": pad}
        return {"idx": np.argmin(d2, axis=1)}

    return d, ref


def w3():
    dist = sqdist(("x", "i", "d"), ("y", "j", "d"))
    lse = red("logsumexp", [rng("j", "M")], (A("g", "j") - dist) / A("eps"))
    d = define(
        "softmin",
        [decl("x", ("N", "D")), decl("y", ("M", "D")), decl("g", ("M",)), decl("eps")],
        [decl("f", ("N",), role="output")],
        [st("f", "i", [rng("i", "N")], -A("eps") * lse)],
    )

    def ref(x, y, g, eps):
        d2 = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
        z = (g[None, :] - d2) / eps
        m = z.max(1, keepdims=True)
        return {"f": -eps * (m[:, 0] + np.log(np.exp(z - m).sum(1)))}

    return d, ref


def _attention(mask_fn, name, extra_inputs=()):
    s_rhs = red("sum", [rng("d", "D")], A("q", "b", "h", "i", "d") * A("k", "b", "h", "j", "d") * A("scale"))
    s_stmt = st("s", "bhij", [rng("b", "B"), rng("h", "H"), rng("i", "N"), rng("j", "M")], s_rhs)
    m1, m2 = mask_fn("j"), mask_fn("j2")
    lse = red("logsumexp", [rng("j2", "M")], A("s", "b", "h", "i", "j2"), mask=m2)
    soft = call("exp", A("s", "b", "h", "i", "j") - lse)
    o_rhs = red("sum", [rng("j", "M")], soft * A("v", "b", "h", "j", "e"), mask=m1)
    o_stmt = st("o", "bhie", [rng("b", "B"), rng("h", "H"), rng("i", "N"), rng("e", "E")], o_rhs)
    return define(
        name,
        [decl("q", ("B", "H", "N", "D")), decl("k", ("B", "H", "M", "D")),
         decl("v", ("B", "H", "M", "E")), decl("scale"), *extra_inputs],
        [decl("o", ("B", "H", "N", "E"), role="output")],
        [s_stmt, o_stmt],
        temps=[decl("s", ("B", "H", "N", "M"), role="temp")],
    )  # fmt: skip


def _attn_ref(q, k, v, scale, allowed):
    s = np.einsum("bhid,bhjd->bhij", q, k) * scale
    s = np.where(allowed, s, -np.inf)
    m = s.max(-1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    p = np.exp(s - m)
    l = p.sum(-1, keepdims=True)
    return np.where(l > 0, (p @ v) / np.where(l > 0, l, 1), 0)


def w4():
    d = _attention(lambda j: ix(j) <= ix("i"), "attention")

    def ref(q, k, v, scale):
        n, m = q.shape[2], k.shape[2]
        allowed = np.arange(m)[None, :] <= np.arange(n)[:, None]
        return {"o": _attn_ref(q, k, v, scale, allowed)}

    return d, ref


def w5(form: str = "abs"):
    W = A("W", dtype="int64")
    if form == "abs":
        mask = lambda j: call("abs", ix("i") - ix(j)) <= W
    else:
        mask = lambda j: (ix(j) >= ix("i") - W) & (ix(j) <= ix("i"))
    d = _attention(mask, "window", (decl("W", (), "int64"),))

    def ref(q, k, v, scale, W):
        n, m = q.shape[2], k.shape[2]
        ii, jj = np.arange(n)[:, None], np.arange(m)[None, :]
        allowed = np.abs(ii - jj) <= W if form == "abs" else (jj >= ii - W) & (jj <= ii)
        return {"o": _attn_ref(q, k, v, scale, allowed)}

    return d, ref


def gram():
    rhs = red("sum", [rng("d", "D")], A("x", "i", "d") * A("x", "j", "d"))
    d = define("gram", [decl("x", ("N", "D"))], [decl("g", ("N", "N"), role="output")],
               [st("g", "ij", [rng("i", "N"), rng("j", "N")], rhs)])  # fmt: skip
    return d, lambda x: {"g": x @ x.T}


def rbf_gram():
    rhs = call("exp", -A("gamma") * sqdist(("x", "i", "d"), ("x", "j", "d")))
    d = define("rbf_gram", [decl("x", ("N", "D")), decl("gamma")], [decl("k", ("N", "N"), role="output")],
               [st("k", "ij", [rng("i", "N"), rng("j", "N")], rhs)])  # fmt: skip

    def ref(x, gamma):
        d2 = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
        return {"k": np.exp(-gamma * d2)}

    return d, ref


def matmul():
    rhs = red("sum", [rng("k", "K")], A("A", "m", "k") * A("B", "k", "n"))
    d = define("matmul", [decl("A", ("M", "K")), decl("B", ("K", "N"))], [decl("C", ("M", "N"), role="output")],
               [st("C", "mn", [rng("m", "M"), rng("n", "N")], rhs)])  # fmt: skip
    return d, lambda A, B: {"C": A @ B}


def tucker():
    body = A("T", "i", "j", "k") * A("U1", "i", "a") * A("U2", "j", "b") * A("U3", "k", "c")
    rhs = red("sum", [rng("i", "I"), rng("j", "J"), rng("k", "K")], body)
    d = define(
        "tucker_core",
        [decl("T", ("I", "J", "K")), decl("U1", ("I", "R")), decl("U2", ("J", "S")), decl("U3", ("K", "P"))],
        [decl("G", ("R", "S", "P"), role="output")],
        [st("G", "abc", [rng("a", "R"), rng("b", "S"), rng("c", "P")], rhs)],
    )  # fmt: skip
    return d, lambda T, U1, U2, U3: {"G": np.einsum("ijk,ia,jb,kc->abc", T, U1, U2, U3)}


def chain():
    body = A("X", "b", "i", "j") * A("Y", "j", "k") * A("Z", "b", "k", "l")
    rhs = red("sum", [rng("j", "J"), rng("k", "K")], body)
    d = define(
        "chain",
        [decl("X", ("B", "I", "J")), decl("Y", ("J", "K")), decl("Z", ("B", "K", "L"))],
        [decl("O", ("B", "I", "L"), role="output")],
        [st("O", "bil", [rng("b", "B"), rng("i", "I"), rng("l", "L")], rhs)],
    )
    return d, lambda X, Y, Z: {"O": np.einsum("bij,jk,bkl->bil", X, Y, Z)}


def fcrelu():
    dom = [rng("b", "B"), rng("n", "N")]
    s1 = st("O", "bn", dom, red("sum", [rng("m", "M")], A("I", "b", "m") * A("W", "n", "m")))
    s2 = st("O", "bn", dom, A("O", "b", "n") + A("bias", "n"))
    s3 = st("O", "bn", dom, call("fmax", A("O", "b", "n"), lift(0.0, F)))
    d = define("fcrelu", [decl("I", ("B", "M")), decl("W", ("N", "M")), decl("bias", ("N",))],
               [decl("O", ("B", "N"), role="output")], [s1, s2, s3])  # fmt: skip
    return d, lambda I, W, bias: {"O": np.maximum(I @ W.T + bias, 0)}


def softmax3():
    s1 = st("mx", "n", [rng("n", "N")], red("max", [rng("c", "C")], A("I", "n", "c")))
    s2 = st("e", "nc", [rng("n", "N"), rng("c", "C")], call("exp", A("I", "n", "c") - A("mx", "n")))
    s3 = st("s", "n", [rng("n", "N")], red("sum", [rng("c", "C")], A("e", "n", "c")))
    s4 = st("O", "nc", [rng("n", "N"), rng("c", "C")], A("e", "n", "c") / A("s", "n"))
    d = define("softmax", [decl("I", ("N", "C"))], [decl("O", ("N", "C"), role="output")],
               [s1, s2, s3, s4],
               temps=[decl("mx", ("N",), role="temp"), decl("e", ("N", "C"), role="temp"),
                      decl("s", ("N",), role="temp")])  # fmt: skip

    def ref(I):
        e = np.exp(I - I.max(1, keepdims=True))
        return {"O": e / e.sum(1, keepdims=True)}

    return d, ref


def conv():
    # O(n, o, h, w) +=! I(n, c, 2h + kh, 2w + kw) * W(o, c, kh, kw), valid, stride 2
    from tensorc.ir.tensor_ir import size_symbol

    H, Wd, KH, KW = (size_symbol(s) for s in ("H", "Wd", "KH", "KW"))
    hi_h = (H - KH) // 2 + 1
    hi_w = (Wd - KW) // 2 + 1
    body = A("I", "n", "c", 0, 0)
    from tensorc.ir import tensor_ir as T

    two = T.Const(2, "int64")
    hh = T.Call("add", (T.Call("mul", (two, T.Index("h")), "int64"), T.Index("kh")), "int64")
    ww = T.Call("add", (T.Call("mul", (two, T.Index("w")), "int64"), T.Index("kw")), "int64")
    body = lift(T.Access("I", (T.Index("n"), T.Index("c"), hh, ww), F)) * A("W", "o", "c", "kh", "kw")
    rhs = red("sum", [rng("c", "C"), rng("kh", "KH"), rng("kw", "KW")], body)
    dom = [rng("n", "Nb"), rng("o", "O"), T.Range("h", 0, hi_h), T.Range("w", 0, hi_w)]
    d = define(
        "conv",
        [decl("I", ("Nb", "C", "H", "Wd")), decl("W", ("O", "C", "KH", "KW"))],
        [T.TensorDecl("out", F, (size_symbol("Nb"), size_symbol("O"), hi_h, hi_w), "output")],
        [st("out", "nohw", dom, rhs)],
    )

    def ref(I, W):
        nb, c, h, w = I.shape
        o, _, kh, kw = W.shape
        oh, ow = (h - kh) // 2 + 1, (w - kw) // 2 + 1
        out = np.zeros((nb, o, oh, ow), np.float64)
        for a in range(kh):
            for b in range(kw):
                patch = I[:, :, a : a + 2 * oh : 2, b : b + 2 * ow : 2]
                out += np.einsum("nchw,oc->nohw", patch, W[:, :, a, b])
        return {"out": out}

    return d, ref


def maxpool():
    from tensorc.ir import tensor_ir as T
    from tensorc.ir.tensor_ir import size_symbol

    H = size_symbol("H")
    hh = T.Call("add", (T.Index("h"), T.Index("kh")), "int64")
    rhs = red("max", [rng("kh", 3)], lift(T.Access("I", (T.Index("n"), hh), F)))
    d = define("maxpool", [decl("I", ("N", "H"))], [T.TensorDecl("O", F, (size_symbol("N"), H - 2), "output")],
               [st("O", "nh", [rng("n", "N"), T.Range("h", 0, H - 2)], rhs)])  # fmt: skip

    def ref(I):
        return {"O": np.maximum(np.maximum(I[:, :-2], I[:, 1:-1]), I[:, 2:])}

    return d, ref


def gather():
    from tensorc.ir import tensor_ir as T

    idx = T.Access("idx", (T.Index("l"),), "int32")
    rhs = lift(T.Access("Tb", (idx, T.Index("w")), F)) * 2.0
    d = define("gather", [decl("Tb", ("V", "W")), decl("idx", ("L",), "int32")],
               [decl("O", ("L", "W"), role="output")], [st("O", "lw", [rng("l", "L"), rng("w", "W")], rhs)])  # fmt: skip
    return d, lambda Tb, idx: {"O": Tb[idx] * 2}


def empty_mask():
    # out(i) = sum_j x(j) where j < i - 3 (rows i <= 3 have an empty domain), and max with j > i
    s1 = st("s", "i", [rng("i", "N")], red("sum", [rng("j", "N")], A("x", "j"), mask=ix("j") < ix("i") - 3))
    s2 = st("mx", "i", [rng("i", "N")], red("max", [rng("j", "N")], A("x", "j"), mask=ix("j") > ix("i")))
    s3 = st("am", "i", [rng("i", "N")], red("argmax", [rng("j", "N")], A("x", "j"), mask=ix("j") > ix("i")))
    d = define("masks", [decl("x", ("N",))],
               [decl("s", ("N",), role="output"), decl("mx", ("N",), role="output"),
                decl("am", ("N",), "int64", "output")], [s1, s2, s3])  # fmt: skip

    def ref(x):
        n = len(x)
        s = np.array([x[: max(0, i - 3)].sum() for i in range(n)])
        mx = np.array([x[i + 1 :].max() if i + 1 < n else -np.inf for i in range(n)])
        am = np.array([i + 1 + np.argmax(x[i + 1 :]) if i + 1 < n else -1 for i in range(n)])
        return {"s": s, "mx": mx, "am": am}

    return d, ref


def value_mask():
    # count and sum over neighbours within radius r (value mask -> If)
    dist = sqdist(("x", "i", "d"), ("x", "j", "d"))
    rhs = red("sum", [rng("j", "N")], A("w", "j"), mask=dist < A("r") * A("r"))
    d = define("radius", [decl("x", ("N", "D")), decl("w", ("N",)), decl("r")],
               [decl("o", ("N",), role="output")], [st("o", "i", [rng("i", "N")], rhs)])  # fmt: skip

    def ref(x, w, r):
        d2 = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
        return {"o": ((d2 < r * r) * w[None, :]).sum(1)}

    return d, ref


def sizes_of(def_, shapes: dict[str, tuple[int, ...]]) -> dict[str, int]:
    out = {}
    for dcl in def_.inputs:
        for dim, n in zip(dcl.shape, shapes.get(dcl.name, ())):
            if dim.is_Symbol:
                out[str(dim)] = n
    return out


def make_inputs(def_, sizes: dict[str, int], rng_: np.random.Generator, scalars: dict | None = None):
    """Random inputs for `def_` at `sizes` (ints for int tensors, given scalars for scalars)."""
    scalars = scalars or {}
    args = {}
    for dcl in def_.inputs:
        if not dcl.shape:
            args[dcl.name] = scalars.get(dcl.name, 0.5)
            continue
        shape = tuple(int(d.subs({s: sizes[str(s)] for s in d.free_symbols})) for d in dcl.shape)
        if dcl.dtype.startswith("int"):
            hi = scalars.get(dcl.name + "_hi", 3)
            args[dcl.name] = rng_.integers(0, hi, shape).astype(dcl.dtype)
        else:
            args[dcl.name] = rng_.standard_normal(shape).astype(dcl.dtype)
    return args
