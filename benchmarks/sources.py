"""The .tc programs the benchmark compiles, embedded so results do not depend on examples/.

Each is written as a user of the language would write it (LANGUAGE.md §7). `{T}` in the templates
is the element type: `float` on CPU, `half` / `bfloat16` for the GPU mixed-precision cases.
"""

from __future__ import annotations

GAUSS_KSUM = """
def gauss_ksum({T}(N,D) x, {T}(M,D) y, {T}(M,E) b, float sigma) -> (out) {{
    out(i,e) = exp(-sum(d: (x(i,d) - y(j,d)) * (x(i,d) - y(j,d))) / (2 * sigma * sigma)) * b(j,e)
}}
"""

NN = """
def nn({T}(N,D) x, {T}(M,D) y) -> (idx) {{
    idx(i) = argmin(j: sum(d: (x(i,d) - y(j,d)) * (x(i,d) - y(j,d))))
}}
"""

SOFTMIN = """
def softmin({T}(N,D) x, {T}(M,D) y, {T}(M) g, float eps) -> (f) {{
    f(i) = -eps * logsumexp(j: (g(j) - sum(d: (x(i,d) - y(j,d)) * (x(i,d) - y(j,d)))) / eps)
}}
"""

ATTENTION = """
def attention({T}(B,H,N,D) q, {T}(B,H,M,D) k, {T}(B,H,M,E) v, float scale) -> (o) {{
    s(b,h,i,j) = q(b,h,i,d) * k(b,h,j,d) * scale
    o(b,h,i,e) = softmax(j: s(b,h,i,j)) * v(b,h,j,e)
}}
"""

CAUSAL_ATTENTION = """
def attention({T}(B,H,N,D) q, {T}(B,H,M,D) k, {T}(B,H,M,E) v, float scale) -> (o) {{
    s(b,h,i,j) = q(b,h,i,d) * k(b,h,j,d) * scale
    o(b,h,i,e) = softmax(j: s(b,h,i,j)) * v(b,h,j,e)  where j <= i
}}
"""

# W is the half-width: query i sees keys |i - j| <= W (2W + 1 keys away from the edges)
WINDOW_ATTENTION = """
def window_attention({T}(B,H,N,D) q, {T}(B,H,N,D) k, {T}(B,H,N,E) v, float scale, int32 W) -> (o) {{
    s(b,h,i,j) = q(b,h,i,d) * k(b,h,j,d) * scale
    o(b,h,i,e) = softmax(j: s(b,h,i,j)) * v(b,h,j,e)  where abs(i - j) <= W
}}
"""

# phi = elu + 1; the numerator is one 3-operand contraction whose association the planner picks
LINEAR_ATTENTION = """
def linear_attention({T}(B,H,N,D) q, {T}(B,H,M,D) k, {T}(B,H,M,E) v) -> (o) {{
    pq(b,h,i,d) = q(b,h,i,d) > 0 ? q(b,h,i,d) + 1 : exp(q(b,h,i,d))
    pk(b,h,j,d) = k(b,h,j,d) > 0 ? k(b,h,j,d) + 1 : exp(k(b,h,j,d))
    den(b,h,i) = pq(b,h,i,d) * pk(b,h,j,d)
    o(b,h,i,e) = pq(b,h,i,d) * pk(b,h,j,d) * v(b,h,j,e) / den(b,h,i)
}}
"""

GRAM = """
def gram({T}(N,D) x) -> (g) {{ g(i,j) = x(i,d) * x(j,d) }}
"""

RBF_GRAM = """
def rbf_gram({T}(N,D) x, float gamma) -> (k) {{
    k(i,j) = exp(-gamma * sum(d: (x(i,d) - x(j,d)) * (x(i,d) - x(j,d))))
}}
"""

GEMM = """
def gemm({T}(M,K) A, {T}(K,N) B) -> (C) {{ C(m,n) = A(m,k) * B(k,n) }}
"""

MMD = """
def mmd2({T}(N,D) x, {T}(M,D) y, float gamma) -> (mmd) {{
    kxx = sum(i, j: exp(-gamma * sum(d: (x(i,d) - x(j,d)) * (x(i,d) - x(j,d)))))
    kyy = sum(i, j: exp(-gamma * sum(d: (y(i,d) - y(j,d)) * (y(i,d) - y(j,d)))))
    kxy = sum(i, j: exp(-gamma * sum(d: (x(i,d) - y(j,d)) * (x(i,d) - y(j,d)))))
    mmd = kxx / (N * N) + kyy / (M * M) - 2 * kxy / (N * M)
}}
"""

TUCKER_CORE = """
def tucker_core({T}(I,J,K) T, {T}(I,R) U1, {T}(J,S) U2, {T}(K,P) U3) -> (G) {{
    G(a,b,c) = T(i,j,k) * U1(i,a) * U2(j,b) * U3(k,c)
}}
"""

BATCHED_BILINEAR = """
def batched_bilinear({T}(B,I,J) x, {T}(J,K) W, {T}(B,K,L) y) -> (out) {{
    out(b,i,l) = x(b,i,j) * W(j,k) * y(b,k,l)
}}
"""


def mps_overlap(sites: int, T: str = "float") -> str:
    """<A|B> for two open-boundary MPS of `sites` sites (bond X, physical P): 2*sites operands."""
    assert sites >= 2
    params, factors = [], []
    for name, bond in (("A", "a"), ("B", "b")):
        for s in range(1, sites + 1):
            if s == 1:
                params.append(f"{T}(P,X) {name}{s}")
                factors.append(f"{name}{s}(p1,{bond}1)")
            elif s == sites:
                params.append(f"{T}(X,P) {name}{s}")
                factors.append(f"{name}{s}({bond}{s - 1},p{s})")
            else:
                params.append(f"{T}(X,P,X) {name}{s}")
                factors.append(f"{name}{s}({bond}{s - 1},p{s},{bond}{s})")
    return (
        f"\ndef mps_overlap({', '.join(params)}) -> (z) {{\n    z() = {' * '.join(factors)}\n}}\n"
    )


def mps_equation(sites: int) -> str:
    """The same contraction as a numpy.einsum string (for opt_einsum / numpy / torch)."""
    letters = iter("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
    phys = [next(letters) for _ in range(sites)]
    terms = []
    for _ in range(2):
        bonds = [next(letters) for _ in range(sites - 1)]
        terms.append(phys[0] + bonds[0])
        terms += [bonds[s - 1] + phys[s] + bonds[s] for s in range(1, sites - 1)]
        terms.append(bonds[-1] + phys[-1])
    return ",".join(terms) + "->"


def tc(template: str, T: str = "float") -> str:
    """Instantiate a template for element type T."""
    return template.format(T=T)
