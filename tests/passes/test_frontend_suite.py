"""The workload suite as written in LANGUAGE.md, through the real front end, lowered and run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pass_workloads as W
import pytest
from loops_runner import run_program

from tensorc.pipeline import to_loops

frontend = pytest.importorskip("tensorc.frontend")
interp = pytest.importorskip("tensorc.ir.interpreter")

LANG = Path("/work/shared/LANGUAGE.md")
SIZES = {"N": 7, "M": 11, "D": 3, "E": 2, "B": 2, "H": 1, "I": 3, "J": 4, "K": 2, "R": 2, "S": 3, "P": 2}


def _suite():
    if not LANG.exists():
        pytest.skip("LANGUAGE.md not available")
    block = LANG.read_text().split("## 7.")[1].split("```")[1]
    return frontend.parse_program(block, "LANGUAGE.md")


@pytest.mark.parametrize("static", [True, False])
@pytest.mark.parametrize("target", ["cpu", "gpu"])
def test_language_suite(static, target):
    prog = _suite()
    rng = np.random.default_rng(1)
    for d in prog.defs:
        args = W.make_inputs(d, SIZES, rng)
        want = interp.interpret(d, args, float64=True)
        lp = to_loops(d, target, SIZES if static else None)
        got = run_program(lp, args, SIZES)
        for k, v in want.items():
            np.testing.assert_allclose(got[k], v, rtol=2e-4, atol=2e-4, err_msg=f"{d.name}.{k}")
