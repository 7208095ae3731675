"""The .tc programs the front-end tests run: LANGUAGE.md §7 workloads and TC classics."""

WORKLOADS = {
    "gauss_ksum": """
# W1 Gaussian kernel sum (KeOps): the N x M matrix is never stored
def gauss_ksum(float(N,D) x, float(M,D) y, float(M,E) b, float sigma) -> (out) {
    out(i,e) = exp(-sum(d: (x(i,d) - y(j,d)) * (x(i,d) - y(j,d))) / (2 * sigma * sigma)) * b(j,e)
}
""",
    "nn": """
def nn(float(N,D) x, float(M,D) y) -> (idx) {
    idx(i) = argmin(j: sum(d: (x(i,d) - y(j,d)) * (x(i,d) - y(j,d))))
}
""",
    "knn": """
def knn(float(N,D) x, float(M,D) y) -> (idx, dist) {
    idx(i, r) = argkmin(j: sum(d: (x(i,d) - y(j,d)) * (x(i,d) - y(j,d))), 5)
    dist(i, r) = kmin(j: sum(d: (x(i,d) - y(j,d)) * (x(i,d) - y(j,d))), 5)
}
""",
    "softmin": """
def softmin(float(N,D) x, float(M,D) y, float(M) g, float eps) -> (f) {
    f(i) = -eps * logsumexp(j: (g(j) - sum(d: (x(i,d) - y(j,d)) * (x(i,d) - y(j,d)))) / eps)
}
""",
    "attention": """
def attention(float(B,H,N,D) q, float(B,H,M,D) k, float(B,H,M,E) v, float scale) -> (o) {
    s(b,h,i,j) = q(b,h,i,d) * k(b,h,j,d) * scale
    o(b,h,i,e) = softmax(j: s(b,h,i,j)) * v(b,h,j,e)  where j <= i
}
""",
    "gram": "def gram(float(N,D) x) -> (g) { g(i,j) = x(i,d) * x(j,d) }",
    "rbf_gram": """def rbf_gram(float(N,D) x, float gamma) -> (k) {
    k(i,j) = exp(-gamma * sum(d: (x(i,d) - x(j,d)) * (x(i,d) - x(j,d)))) }""",
    "tucker_core": """
def tucker_core(float(I,J,K) T, float(I,R) U1, float(J,S) U2, float(K,P) U3) -> (G) {
    G(a,b,c) = T(i,j,k) * U1(i,a) * U2(j,b) * U3(k,c)
}
""",
    "window_attention": """
def window_attention(float(N,D) q, float(N,D) k, float(N,E) v, int32 W) -> (o) {
    o(i,e) = softmax(j: q(i,d) * k(j,d)) * v(j,e) where abs(i - j) <= W
}
""",
    "radius_sum": """
def radius_sum(float(N,D) x, float(M,D) y, float(M) b, float r) -> (o) {
    o(i) = b(j) where d2(i,j) < r * r
    d2(i,j) = 0.0
}
""",
}
# radius_sum above is deliberately wrong (d2 used before defined); replaced below
WORKLOADS["radius_sum"] = """
def radius_sum(float(N,D) x, float(M,D) y, float(M) b, float r) -> (o) {
    d2(i,j) +=! (x(i,d) - y(j,d)) * (x(i,d) - y(j,d))
    o(i) = b(j) where d2(i,j) < r * r
}
"""

CLASSICS = {
    "matmul": """
def matmul(float(M, K) A, float(K, N) B) -> (C) {
    C(m, n) +=! A(m, k) * B(k, n)
}
""",
    "fcrelu": """
def fcrelu(float(B,M) I, float(N,M) W1, float(N) B1) -> (O1) {
    O1(b,n) +=! I(b,m) * W1(n,m)
    O1(b,n) = O1(b,n) + B1(n)
    O1(b,n) = fmax(O1(b,n), 0)
}
""",
    "fc2": """
def fc2(float(B,M) I, float(N,M) W1, float(N) B1, float(O,N) W2, float(O) B2) -> (O1, O2) {
    O1(b, n) +=! I(b, m) * W1(n, m)
    O1(b, n) = O1(b, n) + B1(n)
    O1(b, n) = fmax(O1(b, n), 0)
    O2(b, o) +=! O1(b, n) * W2(o, n)
    O2(b, o) = O2(b, o) + B2(o)
    O2(b, o) = fmax(O2(b, o), 0)
}
""",
    "strided_conv": """
def conv(float(N,C,H,W) I, float(M,C,KH,KW) W1) -> (O) {
    O(n,m,h,w) +=! I(n,c,2*h+kh,2*w+kw) * W1(m,c,kh,kw)
}
""",
    "conv_bias": """
def conv_bias(float(N,C,H,W) I, float(M,C,KH,KW) W1, float(M) B) -> (O) {
    O(n, m, h, w) +=! I(n, c, h + kh, w + kw) * W1(m, c, kh, kw)
    O(n, m, h, w) = O(n, m, h, w) + B(m)
}
""",
    "grouped_conv": """
def group_conv(float(N,G,C,H,W) I, float(G,F,C,KH,KW) W1) -> (O) {
    O(n,g,f,h,w) +=! I(n,g,c,h+kh,w+kw) * W1(g,f,c,kh,kw)
}
""",
    "maxpool": """
def maxpool(float(B,C,H,W) I, int32 KH, int32 KW) -> (O) {
    O(b,c,h,w) max=! I(b,c,h*KH+kh,w*KW+kw) where kh in 0:KH, kw in 0:KW
}
""",
    "maxpool2": """
def maxpool2(float(B,C,H,W) I) -> (O) {
    O(b,c,h,w) max=! I(b,c,2*h+kh,2*w+kw) where kh in 0:2, kw in 0:2
}
""",
    "softmax3": """
def softmax(float(N, D) I) -> (O, maxVal, sumVal) {
    maxVal(n) max=! I(n, d)
    sumVal(n) +=! exp(I(n, d) - maxVal(n))
    O(n, d) = exp(I(n, d) - maxVal(n)) / sumVal(n)
}
""",
    "batchnorm_moments": """
def moments(float(N,C,H,W) I) -> (mean, var) {
    mean(c) +=! I(n, c, h, w) / (N * H * W)
    var(c) +=! (I(n, c, h, w) - mean(c)) * (I(n, c, h, w) - mean(c))
}
""",
    "groupnorm": """
def group_norm(float(N,G,D,H,W) I, float(G,D) gamma, float(G,D) beta, float eps) -> (O, mean, var) {
    mean(n, g) +=! I(n, g, d, h, w)
    var(n, g) +=! I(n, g, d, h, w) * I(n, g, d, h, w)
    O(n, g, d, h, w) = gamma(g, d) * (I(n, g, d, h, w) - mean(n, g)) * rsqrt(var(n, g) - mean(n, g) * mean(n, g) + eps) + beta(g, d)
}
""",
    "kronecker": """
def kronecker(float(M,N) A, float(P,Q) B) -> (float(M*P, N*Q) K) {
    K(i, j) = A(i / P, j / Q) * B(i % P, j % Q) where i in 0:M*P, j in 0:N*Q
}
""",
    "lut": """
def lut(float(E, D) LUT, int32(B, L) I) -> (O) {
    O(b, d) +=! LUT(I(b, l), d)
}
""",
    "gather": """
def gather(float(N, W) T, int64(L) idx) -> (O) {
    O(l, w) = T(idx(l), w)
}
""",
    "concat": """
def concat(float(N) A, float(N) B) -> (float(2 * N) C) {
    C(i) = i < N ? A(i) : B(i - N) where i in 0:2*N
}
""",
    "concat_exists": """
def concat2(float(M) A, float(M) B) -> (C) {
    C(i) = i < M ? A(i) : B(i - M) where i in 0:2*M, exists A(i), exists B(i - M)
}
""",
    "argmin_ternary": """
def argmin_t(float(N, M) A) -> (minv, int64(N) am) {
    minv(i) min=! A(i, j)
    am(i) min=! A(i, j) == minv(i) ? j : M
}
""",
    "casts": """
def casts(float(N) A, int32(N) B, double(N) C) -> (O, int32(N) P, half(N) Q) {
    O(i) = float32(B(i)) * A(i) + float32(C(i))
    P(i) = int32(A(i)) + B(i)
    Q(i) = float16(A(i))
}
""",
    "scalar_out": """
def total(float(N) A) -> (s, int32 count) {
    s +=! A(i)
    count +=! int32(A(i) > 0)
}
""",
    "int_outputs": """
def hist(int32(N) A, int32(N) B) -> (int32(N) O) {
    O(i) = A(i) * B(i) + 1
}
""",
    "equivalent": """
def matmul_eq(float(M, K) A, float(K, N) B) -> (C) {
    C(m, n) +=! A(m, k) * B(k, n) <=> matmul(A, B)
}
""",
    "bracket_access": """
def br(float(M, K) A, float(K, N) B) -> (C) {
    C[m, n] +=! A[m, k] * B[k, n]  # square brackets, and a comment
}
""",
    "builtins": """
def builtins(float(N) A, float lo, float hi) -> (O) {
    O(i) = clamp(tanh(A(i)), lo, hi) + sigmoid(A(i)) + softplus(A(i)) + relu(A(i)) + sign(A(i))
        + abs(A(i)) + pow(A(i), 2) + erf(A(i)) + sqrt(fabs(A(i))) + rsqrt(1 + A(i) * A(i))
        + max(A(i), 0) + min(A(i), lo) + fmin(A(i), hi) + log(1 + exp(A(i)))
}
""",
    "lets_and_masks": """
def lets(float(N, D) x, float r) -> (o) {
    o(i) = sum(j: exp(-d2)) where d2 = sum(d: (x(i, d) - x(j, d)) * (x(i, d) - x(j, d))), j != i, let q = 2, i >= q
}
""",
    "sum_two_indices": """
def s2(float(N, M, K) A) -> (o) {
    o(i) = sqrt(sum(j, k: A(i, j, k) * A(i, j, k)))
}
""",
    "compound_updates": """
def upd(float(N, M) A) -> (o, p) {
    o(i) +=! A(i, j)
    o(i) += A(i, j)
    o(i) max= A(i, j)
    o(i) min= A(i, j)
    o(i) *= A(i, j)
    p(i) *=! A(i, j)
}
""",
    "ternary_mask_logic": """
def logic(float(N) A, float(N) B) -> (O) {
    O(i) = (A(i) > 0 && B(i) > 0) || !(A(i) < B(i)) ? A(i) : -B(i)
}
""",
    "literal_dims": """
def lit(float(N, 3) A, float(4) w) -> (B, float(N, 4) C) {
    B(i) = A(i, 0) + A(i, 2)
    C(i, k) = B(i) * w(k)
}
""",
    "row_softmax_masked": """
def causal_softmax(float(N, N) S) -> (P) {
    P(i, j) = softmax(j: S(i, j)) where j <= i
}
""",
}

ALL = {**WORKLOADS, **CLASSICS}
