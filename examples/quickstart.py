"""tensorc in five minutes: compile equations, call them on numpy arrays, check against numpy.

Run from the repository root:  python examples/quickstart.py
"""

from __future__ import annotations

import pathlib

import numpy as np

import tensorc

rng = np.random.default_rng(0)
HERE = pathlib.Path(__file__).resolve().parent


def check(name: str, got, want, rtol: float = 1e-4) -> None:
    np.testing.assert_allclose(np.asarray(got), want, rtol=rtol, atol=1e-5)
    print(f"  ok  {name}")


# 1. Compile a Tensor Comprehensions program from a string. `float` means float32, and
#    `+=!` initialises C to zero and then sums over k (the index missing on the left).
print("tensorc.compile")
mod = tensorc.compile(
    """
    def matmul(float(M, K) A, float(K, N) B) -> (C) {
        C(m, n) +=! A(m, k) * B(k, n)
    }

    # The einsum rule: in a plain `=`, an index only on the right (j) is summed, and the sum
    # wraps the whole right-hand side; reductions can also sit inside expressions (sum(d: ...)).
    def gauss_ksum(float(N,D) x, float(M,D) y, float(M,E) b, float sigma) -> (out) {
        out(i,e) = exp(-sum(d: (x(i,d) - y(j,d)) * (x(i,d) - y(j,d))) / (2 * sigma * sigma)) * b(j,e)
    }
    """
)
A = rng.standard_normal((64, 32)).astype(np.float32)
B = rng.standard_normal((32, 48)).astype(np.float32)
check("matmul", mod.matmul(A, B), A.astype(np.float64) @ B)

x = rng.standard_normal((200, 3)).astype(np.float32)
y = rng.standard_normal((300, 3)).astype(np.float32)
b = rng.standard_normal((300, 2)).astype(np.float32)
d2 = ((x[:, None, :].astype(np.float64) - y[None, :, :]) ** 2).sum(-1)
check("gauss_ksum", mod.gauss_ksum(x, y, b, 0.8), np.exp(-d2 / (2 * 0.8**2)) @ b)

# 2. Load a file of the workload suite; one callable per def. Several outputs come back as a
#    tuple, a scalar output as a 0-d array, argmin as int64 indices.
print("tensorc.load")
nn = tensorc.load(HERE / "w02_nn.tc")
idx = nn.nn(x, y)
assert np.asarray(idx).dtype == np.int64
check("nn (argmin)", idx, d2.argmin(axis=1))

mmd = tensorc.load(HERE / "w08_mmd.tc").mmd2(x, y, 0.5)
assert np.asarray(mmd).shape == ()


def kmean(a, c):
    return np.exp(-0.5 * ((a[:, None, :].astype(np.float64) - c[None]) ** 2).sum(-1)).mean()


check("mmd2 (scalar output)", mmd, kmean(x, x) + kmean(y, y) - 2 * kmean(x, y))

# 3. einsum with numpy's semantics; the contraction order of n operands is planned.
print("tensorc.einsum")
W = rng.standard_normal((5, 6)).astype(np.float32)
X = rng.standard_normal((4, 7, 5)).astype(np.float32)
Y = rng.standard_normal((4, 6, 3)).astype(np.float32)
check(
    "einsum bij,jk,bkl->bil",
    tensorc.einsum("bij,jk,bkl->bil", X, W, Y),
    np.einsum("bij,jk,bkl->bil", X.astype(np.float64), W, Y),
)
S = rng.standard_normal((9, 9)).astype(np.float32)
check("einsum trace ii->", tensorc.einsum("ii->", S), np.trace(S.astype(np.float64)))


# 4. The decorator: the docstring holds the equations; sizes and dtypes come from the arguments
#    at call time, and numpy in gives numpy out.
print("@tensorc.jit")


@tensorc.jit
def gram(x):
    "g(i,j) = x(i,d) * x(j,d)"


@tensorc.jit
def row_softmax(s):
    "p(i,j) = softmax(j: s(i,j))"


G = gram(x)
assert isinstance(G, np.ndarray)
check("gram", G, x.astype(np.float64) @ x.T.astype(np.float64))
s = rng.standard_normal((5, 11)).astype(np.float32)
e = np.exp(s - s.max(axis=1, keepdims=True))
check("row_softmax", row_softmax(s), e / e.sum(axis=1, keepdims=True))

print("all checks passed")
