"""The docs stay true: every `tensorc ...` command and every ```python block in README.md,
docs/*.md and examples/README.md runs (at small sizes), and every option a command synopsis shows
exists.

Sizes are shrunk so the whole file runs in seconds: `--size X=V` with V > SMALL becomes SMALL, and
integer literals of four or more digits in Python blocks become SMALL_ARRAY. `tensorc cache ...`
runs on a temporary cache directory. A block is skipped, with its reason shown by pytest, when the
line before its fence says so: `<!-- docs-test: skip GPU only -->`.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import pytest

from tensorc import cli

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "examples" / "README.md"]
SMALL = 9  # --size values above this are shrunk to it (odd: edges of vector loops are exercised)
SMALL_ARRAY = 96  # big integer literals in Python blocks (array extents) become this
SKIP = re.compile(r"<!--\s*docs-test:\s*skip\b\s*(.*?)\s*-->")
PLACEHOLDER = re.compile(r"\bFILE\b|\[|\.\.\.|\|")  # a synopsis line, not a command


@dataclass(frozen=True)
class Block:
    where: str  # "README.md:67" (the fence's line)
    lang: str
    text: str
    skip: str | None  # the reason, when the docs mark the block as not runnable here


def _blocks(paths: list[Path] = DOCS) -> list[Block]:
    out = []
    for path in paths:
        lines = path.read_text().splitlines()
        k = 0
        while k < len(lines):
            fence = lines[k].strip()
            if not fence.startswith("```"):
                k += 1
                continue
            end = next((j for j in range(k + 1, len(lines)) if lines[j].strip() == "```"), None)
            assert end is not None, f"{path.name}:{k + 1}: unclosed code fence"
            marker = SKIP.search(lines[k - 1]) if k else None
            name = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
            out.append(Block(f"{name}:{k + 1}", fence[3:].strip(),
                             "\n".join(lines[k + 1 : end]), marker.group(1) if marker else None))
            k = end + 1
    return out


def _commands() -> tuple[list, list]:
    """(runnable commands, synopsis lines) as (where, text, skip reason)."""
    runnable, synopsis = [], []
    for b in _blocks():
        if b.lang == "python":
            continue
        for n, line in enumerate(b.text.splitlines()):
            line = re.sub(r"\s+#.*$", "", line).strip()
            for part in (p.strip() for p in line.split("&&")):
                if not part.startswith("tensorc "):
                    continue
                where = f"{b.where}+{n + 1}"
                (synopsis if PLACEHOLDER.search(part) else runnable).append((where, part, b.skip))
    return runnable, synopsis


RUNNABLE, SYNOPSIS = _commands()
PYTHON = [b for b in _blocks() if b.lang == "python"]


def _shrink_sizes(argv: list[str]) -> list[str]:
    def small(m: re.Match) -> str:
        return f"{m.group(1)}={min(int(m.group(2)), SMALL)}"

    return [re.sub(r"^(\w+)=(\d+)$", small, a) for a in argv]


def test_the_docs_have_commands_and_python_blocks():
    assert len(RUNNABLE) >= 5 and len(PYTHON) >= 2 and len(SYNOPSIS) >= 5


def test_a_marked_block_is_skipped_with_its_reason(tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text("text\n<!-- docs-test: skip GPU only -->\n```python\nimport torch\n```\n"
                   "```bash\ntensorc --version\n```\n")
    gpu, plain = _blocks([doc])
    assert (gpu.where, gpu.lang, gpu.skip) == ("doc.md:3", "python", "GPU only")
    assert (plain.where, plain.text, plain.skip) == ("doc.md:6", "tensorc --version", None)


@pytest.mark.parametrize("where,command,skip", RUNNABLE, ids=[w for w, _, _ in RUNNABLE])
def test_documented_command_runs(where, command, skip, capsys, monkeypatch, tmp_path):
    if skip:
        pytest.skip(f"{where}: {skip}")
    monkeypatch.chdir(ROOT)
    argv = _shrink_sizes(shlex.split(command)[1:])
    if argv[0] == "cache":  # never touch the user's cache
        monkeypatch.setenv("TENSORC_CACHE_DIR", str(tmp_path))
    try:
        code = cli.main(argv)
    except SystemExit as exit_:  # --version, --help
        code = exit_.code
    out, err = capsys.readouterr()
    assert code == 0, f"{where}: `tensorc {' '.join(argv)}` exited {code}\n{err}"
    assert "warning" not in err, f"{where}: `tensorc {' '.join(argv)}` warned\n{err}"


@pytest.mark.parametrize("block", PYTHON, ids=[b.where for b in PYTHON])
def test_documented_python_block_runs(block, monkeypatch, capsys):
    if block.skip:
        pytest.skip(f"{block.where}: {block.skip}")
    monkeypatch.chdir(ROOT)
    source = re.sub(r"(?<![\w.])\d{4,}(?![\w.])", str(SMALL_ARRAY), block.text)
    path, line = block.where.rsplit(":", 1)
    source = "\n" * int(line) + source  # tracebacks show the line in the document
    exec(compile(source, path, "exec"), {"__name__": "docs_block"})  # noqa: S102


def _help(sub: str, capsys) -> str:
    with pytest.raises(SystemExit) as exit_:
        cli.main([sub, "--help"])
    text = capsys.readouterr().out
    assert exit_.value.code == 0, f"no subcommand {sub!r}"
    return text


@pytest.mark.parametrize("where,line,skip", SYNOPSIS, ids=[w for w, _, _ in SYNOPSIS])
def test_synopsis_shows_real_subcommands_and_options(where, line, skip, capsys):
    help_text = _help(line.split()[1], capsys)
    options = set(re.findall(r"(?<![\w-])--[a-z][\w-]*", help_text))
    shown = set(re.findall(r"(?<![\w-])--[a-z][\w-]*", line))
    assert shown <= options, f"{where}: {line!r} shows {sorted(shown - options)}, not options"
