"""Compile-only checks for a real GPU target without a GPU: the generated kernels go through
Triton's compiler and ptxas for sm_90 (H100), which TRITON_INTERPRET=1 never does. Checked: they
compile, attention and tl.dot distances use wgmma, and nothing spills. Small sizes, one child
process for all compiles (this process's Triton is the interpreter's), so it stays fast."""

from __future__ import annotations

import pytest
from tensorc.backends.triton.aot import compile_many, unavailable

from benchmarks import sources
from tensorc.frontend import parse_program
from tensorc.passes import to_loops

pytestmark = pytest.mark.skipif(
    unavailable() is not None, reason=f"cannot compile for CUDA here: {unavailable()}"
)

ATTN = {"B": 1, "H": 8, "N": 1000, "M": 1000, "D": 64, "E": 64}  # 128 programs: no split-j
KSUM = {"N": 5000, "M": 3001, "E": 1}
GAUSS = sources.tc(sources.GAUSS_KSUM)
CAUSAL = sources.tc(sources.CAUSAL_ATTENTION, "half")
# the helpers' libdevice branches, which the interpreter never takes
LIBDEVICE = """def f(float(N) x) -> (y) {
    y(i) = log1p(x(i)) + expm1(x(i)) + cbrt(x(i)) + tanh(x(i)) + pow(x(i), 1.5)
}"""
JOBS = {  # name -> (source, def, sizes, config)
    "attention": (sources.tc(sources.ATTENTION, "half"), "attention", ATTN, {}),
    "causal": (CAUSAL, "attention", ATTN, {}),
    # B > 16: the gpu schedule strip-mines the batch (b_t step 64); merged back before rendering
    "causal-b32": (CAUSAL, "attention", {**ATTN, "B": 32}, {}),
    "ksum-d3": (GAUSS, "gauss_ksum", {**KSUM, "D": 3}, {}),
    "ksum-d64": (GAUSS, "gauss_ksum", {**KSUM, "D": 64}, {"allow_tf32": True}),
    "libdevice": (LIBDEVICE, "f", {"N": 4099}, {}),
}


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    jobs = []
    for src, name, sizes, cfg in JOBS.values():
        prog = to_loops(parse_program(src).get(name), target="gpu", sizes=sizes)
        jobs.append((prog, sizes, {"BM": 64, "BN": 64, **cfg}, None))
    with pytest.MonkeyPatch.context() as mp:  # a cold Triton cache: really compile
        mp.setenv("TRITON_CACHE_DIR", str(tmp_path_factory.mktemp("triton")))
        out = compile_many(jobs)
    return dict(zip(JOBS, out))


def _one(reports, name):
    (r,) = reports[name]
    assert r.spill_bytes == 0 and r.shared_ok, r
    assert f".entry {r.name}" in r.ptx
    return r


@pytest.mark.parametrize("name", ["attention", "causal"])
def test_flash_attention_fp16_uses_wgmma(reports, name):
    r = _one(reports, name)
    assert r.path.startswith("flash attention")
    assert r.tensor_cores == "wgmma"
    assert r.num_warps == 8 and r.grid == (8 * 8,)


def test_flash_attention_with_a_batch_beyond_the_specialised_sizes(reports):
    r = _one(reports, "causal-b32")
    assert r.path.startswith("flash attention") and r.tensor_cores == "wgmma"
    assert r.grid == (32 * 8 * 8,)


def test_kernel_sum_d3_streams_without_tensor_cores(reports):
    r = _one(reports, "ksum-d3")
    assert r.path.startswith("2-D tile streaming")
    assert r.tensor_cores == "none" and "ex2.approx" in r.ptx


def test_kernel_sum_d64_distances_through_tf32_wgmma(reports):
    r = _one(reports, "ksum-d64")
    assert r.tensor_cores == "wgmma" and ".tf32" in r.ptx


def test_libdevice_branches_compile(reports):
    assert _one(reports, "libdevice").path.startswith("generic")
