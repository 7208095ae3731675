"""Smoke test of the GPU benchmark suite (benchmarks/cases_gpu.py) without a GPU: every case's
tensorc program at `tiny` sizes on the Triton backend (TRITON_INTERPRET=1, CPU tensors), checked
with the case's own reference and tolerance, so `python -m benchmarks --target gpu` only meets
timing on the GPU machine. bf16 cases need GPU arithmetic and are skipped here."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tensorc
from benchmarks.cases_gpu import TF32_CASES, gpu_cases
from benchmarks.runner import to_numpy

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")
CASES = {c.name: c for c in gpu_cases()}


def test_suite_covers_issue_5():
    names = set(CASES)
    for want in ("W4-attn-d128", "W4-attn-causal-d128", "W4-attn-d64", "W4-attn-causal-d64",
                 "W1-ksum-1e6", "W7-gram-bf16", "W5-win64", "W5-win1024"):  # fmt: skip
        assert want in names
    assert {n + "-tf32" for n in TF32_CASES} <= names
    attn = [i.name for i in CASES["W4-attn-d128"].impls]
    assert {"SDPA flash", "SDPA cuDNN", "torch.compile"} <= set(attn)
    assert {"torch.compile", "torch (chunked)"} <= {i.name for i in CASES["W1-ksum-1e6"].impls}
    assert CASES["W4-attn-d64"].metric.unit == "TFLOP/s"
    assert CASES["W1-ksum-1e6"].metric.unit == "T pairs/s"
    assert CASES["W1-ksum-1e6"].sizes["full"] == {"N": 10**6, "M": 10**6, "D": 3, "E": 1}
    assert CASES["W7-rbf-tf32"].sizes["full"] == {"N": 16384, "D": 1024}


@pytest.mark.parametrize(
    "name", sorted(n for n, c in CASES.items() if c.device_dtype != "bfloat16")
)
def test_case_runs_on_the_interpreter_at_tiny_size(name):
    case = CASES[name]
    sizes = case.sizes["tiny"]
    inputs = case.make_inputs(sizes, np.random.default_rng(0))
    dtype = getattr(torch, case.device_dtype) if case.device_dtype else None
    args = []
    for n in case.args:
        a = inputs[n]
        if isinstance(a, np.ndarray):
            a = torch.from_numpy(np.ascontiguousarray(a))
            a = a.to(dtype) if dtype is not None and a.is_floating_point() else a
        args.append(a)
    out = to_numpy(getattr(tensorc.compile(case.source, backend="triton"), case.entry)(*args))
    rows = None
    if case.check.rows is not None:
        size, axis = case.check.rows
        rows = np.arange(sizes[size])
        out = np.take(out, rows, axis=axis)
    ok, err = case.check.compare(out, case.check.reference(inputs, rows), inputs, rows)
    assert ok, f"{name}: max error {err}"
