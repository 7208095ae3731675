"""`tensorc cache info|list|clear|prune`: the arguments and the printed reports.

    tensorc cache info                   where, on/off/not trusted, size, cap, per kind
    tensorc cache list [--kind K]        one line per entry, least recently used first
    tensorc cache clear [--kind K] [--older-than 7d]
    tensorc cache prune [--max 500M]     evict least recently used entries down to a size
Each takes `--json` for machine-readable output.
"""

from __future__ import annotations

import argparse
import json
import re
import time

from tensorc import cache
from tensorc.errors import ArgumentValueError

KINDS = ("llvm", "program", "tune", "triton", "grammar")
_AGES = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=("info", "list", "clear", "prune"))
    p.add_argument("--kind", help=f"only entries of this kind ({', '.join(KINDS)})")
    p.add_argument(
        "--older-than", metavar="AGE", help="clear: only entries unused for AGE (30m, 12h, 7d)"
    )
    p.add_argument(
        "--max",
        metavar="BYTES",
        help="prune: the size to prune down to (500M, 2G; default TENSORC_CACHE_MAX)",
    )
    p.add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace) -> int:
    """Do `args.action`; print its report."""
    if args.action == "info":
        info = cache.info()
        print(json.dumps(info, indent=2) if args.json else _info_text(info))
        return 0
    if args.action == "list":
        rows = cache.entries(args.kind)
        print(json.dumps([e.row() for e in rows], indent=2) if args.json else _list_text(rows))
        return 0
    if args.action == "clear":
        gone = cache.clear(args.kind, _age(args.older_than) if args.older_than else None)
    else:
        gone = cache.prune(args.max)
    if args.json:
        print(json.dumps([e.row() for e in gone], indent=2))
    else:
        print(f"removed {len(gone)} {_entries(len(gone))} ({human(sum(e.bytes for e in gone))})")
    return 0


def human(n: float) -> str:
    """Bytes in binary units: 512 B, 3.2 KiB, 41.0 MiB."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def _entries(n: int) -> str:
    return "entry" if n == 1 else "entries"


def _ago(t: float) -> str:
    s = max(0.0, time.time() - t)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size:
            return f"{s / size:.0f}{unit} ago"
    return f"{s:.0f}s ago"


def _age(text: str) -> float:
    m = re.fullmatch(r"\s*(\d+(?:\.\d*)?)\s*([smhdw]?)\s*", text)
    if m is None:
        raise ArgumentValueError(
            f"--older-than: cannot read {text!r} as an age",
            hint="a number of seconds, or with a unit: 30m, 12h, 7d, 2w",
        )
    return float(m.group(1)) * _AGES[m.group(2) or "s"]


def _info_text(info: dict) -> str:
    size = (
        f"size:    {human(info['bytes'])} in {info['entries']} {_entries(info['entries'])} "
        f"(cap {human(info['max_bytes'])}, TENSORC_CACHE_MAX)"
    )
    lines = [f"cache:   {info['root'] or '(none)'}", f"state:   {info['state']}", size]
    for kind, k in info["kinds"].items():
        lines.append(
            f"  {kind:<8} {k['entries']:>6} {_entries(k['entries']):<7}  {human(k['bytes']):>10}"
        )
    return "\n".join(lines)


def _list_text(rows: list) -> str:
    if not rows:
        return "(no entries)"
    head = ("KIND", "DEF", "SIZES", "BACKEND", "BYTES", "LAST USE")
    body = [
        (e.kind, e.def_ or "-", e.sizes or "-", e.backend or "-", human(e.bytes), _ago(e.last_use))
        for e in rows
    ]
    widths = [max(len(r[i]) for r in (head, *body)) for i in range(len(head))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in (head, *body)
    )
