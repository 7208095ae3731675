"""The Tensor Comprehensions corpus compiles unchanged and matches numpy on every backend.

Cases live in cases.py. A backend is skipped only when it reports itself unavailable (with the
reason); a known bug elsewhere in the compiler is an xfail(strict=True) naming the bug, so the
test flips to a failure the day the bug is fixed and the marker must go.
"""

from __future__ import annotations

import pathlib

import numpy as np
import pytest
from support import BACKENDS, compiled, load_sibling, require_backend

HERE = pathlib.Path(__file__).resolve().parent


cases = load_sibling(__file__, "cases")
tensorc = pytest.importorskip("tensorc")

RTOL = 1e-4

# (case id, backend or None for all, profile or None for all) -> reason: known bugs in other parts of the compiler.
KNOWN_BUGS: dict[tuple[str, str | None, str | None], str] = {
    # (case, backend, size profile) -> the bug, as an xfail(strict=True) reason. Empty: all fixed.
}

def load(file: str, backend: str):
    return compiled(HERE / file, backend)


def known_bug(case_id: str, backend: str, profile: str) -> str | None:
    for key in ((case_id, backend, profile), (case_id, backend, None), (case_id, None, None)):
        if key in KNOWN_BUGS:
            return KNOWN_BUGS[key]
    return None


def _params():
    for case in cases.CASES:
        for profile in cases.PROFILES:
            for backend in BACKENDS:
                reason = known_bug(case.id, backend, profile)
                marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
                yield pytest.param(
                    case, profile, backend, marks=marks, id=f"{case.id}-{profile}-{backend}"
                )


def check_output(got, want, what: str) -> None:
    got = np.asarray(got)
    want = np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != reference {want.shape}"
    if want.dtype.kind in "iub":
        assert got.dtype == want.dtype, f"{what}: dtype {got.dtype} != {want.dtype}"
        np.testing.assert_array_equal(got, want, err_msg=what)
        return
    assert got.dtype == np.float32, f"{what}: expected float32, got {got.dtype}"
    scale = max(1.0, float(np.max(np.abs(want)))) if want.size else 1.0
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=1e-5 * scale, err_msg=what)


@pytest.mark.parametrize("case, profile, backend", list(_params()))
def test_tc_program(case, profile, backend):
    require_backend(backend)
    args = case.inputs(profile)
    want = case.expected(args)
    out = getattr(load(case.file, backend), case.name)(*args)
    if len(want) == 1:
        assert not isinstance(out, tuple), "one declared output must come back bare"
        got = (out,)
    else:
        assert isinstance(out, tuple) and len(out) == len(want), f"expected {len(want)} outputs"
        got = out
    for k, (g, w) in enumerate(zip(got, want)):
        check_output(g, w, f"{case.id} [{profile}] on {backend}, output {k}")


def test_corpus_is_complete():
    """Every def of every .tc file here has a case, and there are at least 30 programs."""
    import re

    covered = {(c.file, c.name) for c in cases.CASES}
    files = sorted(HERE.glob("*.tc"))
    assert len(files) >= 30
    for path in files:
        for name in re.findall(r"^\s*def\s+(\w+)", path.read_text(), flags=re.MULTILINE):
            assert (path.name, name) in covered, f"{path.name}::{name} has no case"
