"""The `tensorc` command agrees with the Python API: the same backend fallback rule, every size
required (no default), unknown sizes rejected, `--version`, `explain` of a path or source text."""

from __future__ import annotations

from pathlib import Path

import pytest

import tensorc
from tensorc import cli
from tensorc.errors import UnsupportedError
from tensorc.runtime.module import Function

ROOT = Path(__file__).resolve().parents[1]
CLASSICS = str(ROOT / "examples" / "w10_tc_classics.tc")
GRAM = "def gram(float(N,D) x) -> (g) { g(i,j) +=! x(i,d) * x(j,d) }"


def _main(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith(f"tensorc {tensorc.__version__} ")


def test_run_requires_every_size_and_lists_the_missing_ones(capsys):
    code, _, err = _main(capsys, "run", CLASSICS, "--def", "conv_strided", "--size", "N=2")
    assert code == 1
    assert "conv_strided needs sizes that were not given: C, H, W, M, KH, KW" in err
    assert "hint:" in err and "--size N=2 --size C=" in err


def test_run_rejects_an_unknown_size_with_did_you_mean(capsys):
    argv = ["run", CLASSICS, "--def", "maxpool", "--size", "B=1", "--size", "C=1", "--size", "H=4"]
    code, _, err = _main(capsys, *argv, "--size", "W=4", "--size", "Hh=3")
    assert code == 1
    assert "no size named 'Hh' in maxpool" in err and "did you mean 'H'?" in err


def test_run_strided_conv_on_cpu_checks_against_the_interpreter(capsys):
    sizes = ["--size", "N=1", "--size", "C=2", "--size", "H=7", "--size", "W=6", "--size", "M=3"]
    argv = ["run", CLASSICS, "--def", "conv_strided", "--backend", "cpu", *sizes]
    code, out, err = _main(capsys, *argv, "--size", "KH=3", "--size", "KW=3", "--repeat", "1",
                           "--check")
    assert code == 0, err
    assert "conv_strided [cpu]" in out and "O: float32[1, 3, 3, 2]" in out
    err_line = next(line for line in out.splitlines() if "max rel err" in line)
    assert float(err_line.split()[-1]) < 1e-5


def _unsupported(self, name, sizes):
    raise UnsupportedError("op 'frobnicate' is not supported by the cpu backend")


def test_fallback_rule_is_the_apis(capsys, monkeypatch, tmp_path):
    """Unnamed backend: warn and run on the interpreter (CLI and API alike); named: an error."""
    monkeypatch.setattr(Function, "_executable", _unsupported)
    path = tmp_path / "gram.tc"
    path.write_text(GRAM + "\n")
    sizes = ["--size", "N=3", "--size", "D=2", "--repeat", "1"]
    code, out, err = _main(capsys, "run", str(path), *sizes)
    assert code == 0, err
    assert "gram [interp]" in out
    assert err.startswith("tensorc: warning: gram falls back to the reference interpreter")
    assert "frobnicate" in err

    code, _, err = _main(capsys, "run", str(path), *sizes, "--backend", "cpu")
    assert code == 1 and "frobnicate" in err and "hint:" in err

    import numpy as np

    x = np.ones((3, 2), np.float32)
    with pytest.warns(UserWarning, match="falls back to the reference interpreter"):
        np.testing.assert_array_equal(tensorc.compile(GRAM).gram(x), np.full((3, 3), 2.0))
    with pytest.raises(UnsupportedError, match="frobnicate"):
        tensorc.compile(GRAM, backend="cpu").gram(x)


def test_explain_takes_a_path_or_source(capsys, tmp_path):
    path = tmp_path / "gram.tc"
    path.write_text(GRAM + "\n")
    code, from_path, _ = _main(capsys, "explain", str(path), "--size", "N=64", "--size", "D=3")
    assert code == 0 and from_path.startswith("def gram:")
    code, from_source, _ = _main(capsys, "explain", GRAM, "--size", "N=64", "--size", "D=3")
    assert code == 0 and from_source == from_path
    assert tensorc.explain(path, sizes={"N": 64, "D": 3}) + "\n" == from_path
    assert tensorc.explain(str(path), sizes={"N": 64, "D": 3}) == tensorc.explain(
        GRAM, sizes={"N": 64, "D": 3}
    )


def test_explain_of_a_missing_path_says_so(capsys, tmp_path):
    missing = str(tmp_path / "nope.tc")
    code, _, err = _main(capsys, "explain", missing)
    assert code == 1 and "is not a file that exists here" in err
    with pytest.raises(tensorc.TensorcError, match="is not a file that exists here"):
        tensorc.explain(missing)
    code, _, err = _main(capsys, "explain", GRAM, "--size", "Q=3")
    assert code == 1 and "no size named 'Q'" in err


def test_run_refuses_sizes_beyond_this_machines_memory(capsys):
    sizes = [f"--size {n}={v}" for n, v in (("P", 10**5), ("X1", 10**3), ("X2", 10**3),
                                            ("X3", 10**3), ("Y1", 2), ("Y2", 2), ("Y3", 2))]
    argv = ["run", str(ROOT / "examples" / "w09_tensor_networks.tc"), "--def", "mps_overlap"]
    code, _, err = _main(capsys, *argv, *" ".join(sizes).split())
    assert code == 1 and "GiB for its inputs and outputs, more than this machine's" in err


def test_run_a_bfloat16_def_shows_values_not_bits(capsys, tmp_path):
    path = tmp_path / "bf.tc"
    path.write_text("def mm(bfloat16(M,K) A, bfloat16(K,N) B) -> (C) {\n"
                    "    C(m,n) +=! A(m,k) * B(k,n)\n}\n")
    sizes = ["--size", "M=4", "--size", "K=5", "--size", "N=3", "--repeat", "1", "--check"]
    code, out, err = _main(capsys, "run", str(path), "--backend", "loops", *sizes)
    assert code == 0, err
    assert "C: float32[4, 3]" in out and "max rel err 0.00e+00" in out
