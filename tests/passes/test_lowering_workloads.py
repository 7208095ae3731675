"""Every workload lowers to LoopIR that computes what numpy (and the TensorIR interpreter) compute,
under the default schedule (static and symbolic sizes) and under random legal schedules."""

from __future__ import annotations

import random

import numpy as np
import pass_workloads as W
import pytest
from loops_runner import run_program, tir_reference

from tensorc.pipeline import to_loops
from tensorc.schedule import Schedule, space

CASES = {
    "w1": (W.w1, [{"N": 7, "M": 11, "D": 3, "E": 2}, {"N": 1, "M": 1, "D": 1, "E": 1}], {}),
    "w2_argmin": (W.w2, [{"N": 7, "M": 13, "D": 3}, {"N": 1, "M": 1, "D": 2}], {}),
    "w2_argkmin": (lambda: W.w2(3), [{"N": 5, "M": 11, "D": 2}, {"N": 2, "M": 2, "D": 1}], {}),
    "w3": (W.w3, [{"N": 7, "M": 11, "D": 3}, {"N": 1, "M": 1, "D": 1}], {"eps": 0.7}),
    "w4_causal": (W.w4, [{"B": 2, "H": 1, "N": 7, "M": 7, "D": 3, "E": 2}, {"B": 1, "H": 1, "N": 5, "M": 3, "D": 1, "E": 1}], {}),
    "w5_window": (W.w5, [{"B": 1, "H": 2, "N": 11, "M": 11, "D": 3, "E": 2}], {"W": 2}),
    "w5_window_cut": (lambda: W.w5("b"), [{"B": 1, "H": 1, "N": 13, "M": 13, "D": 2, "E": 3}], {"W": 3}),
    "gram": (W.gram, [{"N": 7, "D": 3}, {"N": 1, "D": 1}], {}),
    "rbf_gram": (W.rbf_gram, [{"N": 7, "D": 5}, {"N": 5, "D": 40}], {}),
    "matmul": (W.matmul, [{"M": 7, "K": 5, "N": 3}, {"M": 1, "K": 1, "N": 1}], {}),
    "tucker": (W.tucker, [{"I": 3, "J": 4, "K": 2, "R": 2, "S": 3, "P": 5}], {}),
    "chain": (W.chain, [{"B": 2, "I": 3, "J": 5, "K": 2, "L": 3}], {}),
    "fcrelu": (W.fcrelu, [{"B": 3, "M": 7, "N": 5}], {}),
    "softmax3": (W.softmax3, [{"N": 3, "C": 7}], {}),
    "conv_strided": (W.conv, [{"Nb": 2, "C": 2, "H": 7, "Wd": 8, "O": 3, "KH": 3, "KW": 2}], {}),
    "maxpool": (W.maxpool, [{"N": 2, "H": 11}], {}),
    "gather": (W.gather, [{"V": 5, "W": 3, "L": 7}], {"idx_hi": 5}),
    "empty_masks": (W.empty_mask, [{"N": 7}, {"N": 1}], {}),
    "value_mask": (W.value_mask, [{"N": 13, "D": 2}], {"r": 1.2}),
}


def _ref_args(args):
    return {
        k: (np.float64(v) if np.ndim(v) == 0 and isinstance(v, float) else v.astype(np.float64) if getattr(v, "dtype", None) is not None and v.dtype.kind == "f" else v)
        for k, v in args.items()
    }  # fmt: skip


def check(def_, ref, sizes, scalars, prog, seed=0):
    rng = np.random.default_rng(seed)
    args = W.make_inputs(def_, sizes, rng, scalars)
    out = run_program(prog, args, sizes)
    expected = ref(**_ref_args(args))
    interp = tir_reference(def_, args)
    for name, want in expected.items():
        got = out[name]
        if got.dtype.kind == "f":
            np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-4, err_msg=name)
        else:
            np.testing.assert_array_equal(got, want, err_msg=name)
        if interp is not None and name in interp:
            np.testing.assert_allclose(got, interp[name], rtol=2e-4, atol=2e-4, err_msg=f"{name} vs interpreter")


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("static", [True, False])
def test_default_schedule(case, static):
    make, size_list, scalars = CASES[case]
    def_, ref = make()
    for sizes in size_list:
        prog = to_loops(def_, "cpu", sizes if static else None)
        if not static:
            assert prog.static_sizes == ()
        check(def_, ref, sizes, scalars, prog)


@pytest.mark.parametrize("case", sorted(CASES))
def test_gpu_schedule(case):
    make, size_list, scalars = CASES[case]
    def_, ref = make()
    check(def_, ref, size_list[0], scalars, to_loops(def_, "gpu", None))


@pytest.mark.parametrize("case", sorted(CASES))
def test_random_schedules(case):
    make, size_list, scalars = CASES[case]
    def_, ref = make()
    sizes = size_list[0]
    rnd = random.Random(hash(case) % 1000)
    names = sorted({i for st in def_.body for i in st.indices} | {"j", "d", "k", "c", "j2"})
    for trial in range(3):
        tiles = tuple((n, rnd.choice([0, 1, 2, 3, 5, 8])) for n in rnd.sample(names, min(3, len(names))))
        order = tuple(rnd.sample(names, len(names)))
        s = Schedule(
            tiles=tiles, order=order, inner_dims=rnd.random() < 0.7, online_softmax=rnd.random() < 0.7,
            mask_bounds=rnd.random() < 0.7, symmetry=rnd.random() < 0.5, gemm=rnd.random() < 0.5,
            gram_rewrite=rnd.random() < 0.5,
        )  # fmt: skip
        check(def_, ref, sizes, scalars, to_loops(def_, "cpu", sizes, s), seed=trial)


@pytest.mark.parametrize("case", ["w1", "w4_causal", "rbf_gram", "tucker"])
def test_space_is_legal_and_correct(case):
    make, size_list, scalars = CASES[case]
    def_, ref = make()
    for s in space(def_, "cpu", size_list[0]):
        check(def_, ref, size_list[0], scalars, to_loops(def_, "cpu", size_list[0], s))
