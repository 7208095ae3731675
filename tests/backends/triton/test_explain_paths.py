"""`tensorc explain --target gpu` names the Triton code path of every kernel."""

from pathlib import Path

import tensorc

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def _explain(name: str, def_name: str, sizes: dict, target: str = "gpu") -> str:
    return tensorc.explain((EXAMPLES / name).read_text(), def_name, target=target, sizes=sizes)


def test_attention_takes_the_flash_path():
    sizes = {"B": 1, "H": 2, "N": 512, "M": 512, "D": 64, "E": 64}
    assert "[triton flash attention" in _explain("w04_attention.tc", "attention", sizes)


def test_kernel_sum_takes_the_tile_path():
    sizes = {"N": 10_000, "M": 10_000, "D": 3, "E": 1}
    assert "[triton 2-D tile" in _explain("w01_gauss_ksum.tc", "gauss_ksum", sizes)


def test_cpu_explain_names_no_triton_path():
    sizes = {"N": 10_000, "M": 10_000, "D": 3, "E": 1}
    assert "[triton" not in _explain("w01_gauss_ksum.tc", "gauss_ksum", sizes, "cpu")


def test_tiled_loops_count_their_tile_in_the_flop_estimate():
    """The intra-tile loop [t, min(t + 64, N)) counts 64 rows, not 1: W1 costs ~20 flops a pair."""
    import re

    sizes = {"N": 100_000, "M": 100_000, "D": 3, "E": 1}
    for target in ("cpu", "gpu"):
        text = _explain("w01_gauss_ksum.tc", "gauss_ksum", sizes, target)
        giga = float(re.search(r"flops ~ .* = ([\d.]+)G", text).group(1))
        assert 10 <= giga * 1e9 / (sizes["N"] * sizes["M"]) <= 30, (target, giga)
