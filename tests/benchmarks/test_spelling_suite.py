"""The spelling suite (`python -m benchmarks --suite spelling`) at tiny sizes: every spelling of
every family compiles for the cpu backend and matches its family's float64 reference, and the
command writes its JSON. No timing thresholds (issue 11's ratios are measured by the suite)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from support import require_backend

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # benchmarks/ is a top-level folder, not an installed package
    sys.path.insert(0, str(ROOT))

from benchmarks.__main__ import main
from benchmarks.spelling_suite import run_family
from benchmarks.spellings import families

FAMILIES = {f.name: f for f in families()}


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_every_spelling_matches_the_reference(name):
    require_backend("cpu")
    got = run_family(FAMILIES[name], "tiny", "cpu", budget_s=0.0, repeats=1)
    assert "error" not in got, got.get("error")
    bad = {r["spelling"]: r.get("error", r.get("max_rel_error")) for r in got["spellings"]
           if r["status"] != "ok"}  # fmt: skip
    assert not bad, bad
    assert all(c["status"] == "ok" for c in got["comparators"]), got["comparators"]
    assert len(got["spellings"]) >= 3 or name in ("mps", "mmd")


def test_command_writes_json(tmp_path):
    require_backend("cpu")
    out = tmp_path / "spelling.json"
    argv = ["--suite", "spelling", "--size", "tiny", "--only", "gemm", "--budget", "0"]
    assert main([*argv, "--repeats", "1", "--no-progress", "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    (fam,) = doc["families"]
    assert fam["family"] == "gemm" and {r["status"] for r in fam["spellings"]} == {"ok"}
    assert min(r["ratio_to_fastest"] for r in fam["spellings"]) == 1.0
