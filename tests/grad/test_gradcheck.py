"""torch.autograd.gradcheck (float64) of compiled defs through their compiled gradient defs:
every def of examples/ and the Tensor Comprehensions classics, on the interp, loops and cpu
backends (tiny sizes), and every def's backward against finite differences on interp."""

from __future__ import annotations

import pathlib

import pytest

import tensorc
from tensorc.frontend import parse_program
from tensorc.ir.types import is_float
from tests.grad.harness import fd_check, float64_source, torch_inputs

torch = pytest.importorskip("torch")

ROOT = pathlib.Path(__file__).resolve().parents[2]
CLASSICS = (
    "matmul",
    "fcrelu",
    "softmax3",
    "layernorm",
    "batchnorm",
    "convolution",
    "maxpool",
    "group_normalization",
    "kronecker2",
    "lut1",
    "argmin_ternary",
    "max_reductions",
    "math_ops",
    "math_builtins",
    "cosine_similarity",
    "avgpool",
    "wavenet",
    "concat_ternary",
)


def _cases(paths):
    out = []
    for path in paths:
        src = float64_source(path.read_text())
        for d in parse_program(src, str(path)).defs:
            if any(is_float(o.dtype) for o in d.outputs) and any(
                is_float(t.dtype) for t in d.inputs
            ):
                out.append(pytest.param(path, d.name, id=f"{path.stem}-{d.name}"))
    return out


EXAMPLES = _cases(sorted((ROOT / "examples").glob("*.tc")))
TC = _cases([ROOT / "tests" / "tc_programs" / f"{n}.tc" for n in CLASSICS])
# the loops interpreter runs scalar Python: the six-site ring is too slow for a unit test there
SLOW_ON_LOOPS = {"mps_norm6", "wavenet1", "small_mobilenet"}
SIZES = {"knn_dist": (2, 3, 6)}  # kmin(j: ..., 5) needs M >= 5 (else +inf distances)


@pytest.mark.parametrize("backend", ["interp", "loops", "cpu"])
@pytest.mark.parametrize("path,name", EXAMPLES + TC)
def test_gradcheck(path, name, backend):
    if backend == "loops" and name in SLOW_ON_LOOPS:
        pytest.skip("too slow on the loops interpreter")
    mod = tensorc.compile(float64_source(path.read_text()), backend=backend, file=str(path))
    fn = mod[name]
    args, leaves = torch_inputs(fn.def_, SIZES.get(name, (2, 3)))
    pos = [i for i, a in enumerate(args) if any(a is leaf for leaf in leaves)]

    def call(*xs):
        full = list(args)
        for i, x in zip(pos, xs):
            full[i] = x
        return fn(*full)

    out = call(*leaves)
    first = out[0] if isinstance(out, tuple) else out
    assert first.requires_grad or not is_float(fn.def_.outputs[0].dtype)
    assert torch.autograd.gradcheck(call, tuple(leaves), fast_mode=backend != "interp")


@pytest.mark.parametrize("path,name", EXAMPLES + TC)
def test_finite_differences(path, name):
    src = float64_source(path.read_text())
    try:
        fd_check(src, name)
    except AssertionError:  # a log/rsqrt of a negative draw: NaN both ways
        fd_check(src, name, positive=True)


@pytest.mark.parametrize("path,name", EXAMPLES + TC)
def test_sum_backward_reads_a_scalar_cotangent(path, name):
    """`out.sum().backward()` hands each backward a broadcast cotangent, which the runtime reads
    as one scalar (a specialised backward def, runtime/broadcast.py): the same gradients as
    contiguous ones."""
    mod = tensorc.compile(float64_source(path.read_text()), backend="cpu", file=str(path))
    fn = mod[name]
    args, leaves = torch_inputs(fn.def_, SIZES.get(name, (2, 3)))
    out = fn(*args)
    outs = [o for o in (out if isinstance(out, tuple) else (out,)) if o.requires_grad]
    summed = torch.autograd.grad(sum(o.sum() for o in outs), leaves, allow_unused=True)
    out = fn(*args)
    outs = [o for o in (out if isinstance(out, tuple) else (out,)) if o.requires_grad]
    ones = [torch.ones_like(o) for o in outs]
    full = torch.autograd.grad(outs, leaves, grad_outputs=ones, allow_unused=True)
    for a, b in zip(summed, full):
        if a is None or b is None:
            assert a is None and b is None
        else:
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
