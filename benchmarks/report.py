"""Outputs: the JSON document (atomic write), a PNG bar chart, and a console table."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np


def _jsonable(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    raise TypeError(f"not JSON-serialisable: {type(x).__name__}")


def _clean(x: Any) -> Any:
    """inf/nan floats -> strings ("inf"), so the file stays strict JSON."""
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    if isinstance(x, dict):
        return {k: _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    return x


def write_json(path: Path, doc: dict[str, Any]) -> None:
    """Atomic: a reader never sees half a file (temp file + os.replace)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(_clean(doc), f, indent=1, default=_jsonable, allow_nan=False)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_chart(path: Path, doc: dict[str, Any]) -> str | None:
    """Speedup bars per case (log scale); returns None, or why no chart was written."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as err:
        return f"matplotlib not installed ({err}); no chart"

    cases = doc["cases"]
    have_speedups = any(
        r.get("speedup") and r["name"] != "tensorc" for c in cases for r in c["results"]
    )
    # without a timed tensorc entry, show each implementation against the case's fastest one
    series: dict[str, dict[str, float]] = {}
    for c in cases:
        timed = [r for r in c["results"] if r.get("status") == "ok"]
        if not timed:
            continue
        best = min(r["time_s"] for r in timed)
        for r in timed:
            if have_speedups:
                if r["name"] == "tensorc" or not r.get("speedup"):
                    continue
                value = r["speedup"]
            else:
                value = r["time_s"] / best
            series.setdefault(r["name"], {})[c["name"]] = value
    names = [c["name"] for c in cases if any(c["name"] in s for s in series.values())]
    if not names:
        return "nothing was timed; no chart"

    impls = sorted(series)
    width = 0.8 / max(1, len(impls))
    fig, ax = plt.subplots(figsize=(max(8, 0.9 * len(names) + 3), 5.5))
    cmap = plt.get_cmap("tab20")
    for k, impl in enumerate(impls):
        xs = [
            i + (k - (len(impls) - 1) / 2) * width for i, n in enumerate(names) if n in series[impl]
        ]
        ys = [series[impl][n] for n in names if n in series[impl]]
        ax.bar(xs, ys, width, label=impl, color=cmap(k % 20))
    ax.set_yscale("log")
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=45, ha="right")
    m = doc["machine"]
    where = m["gpu"]["name"] if m.get("gpu") else m["cpu"]["model"]
    if have_speedups:
        ax.set_ylabel("speedup of tensorc = t_other / t_tensorc  (> 1: tensorc faster)")
        ax.set_title(f"tensorc vs alternatives, --target {doc['target']} ({doc['size']}), {where}")
    else:
        ax.set_ylabel("time / fastest time in the case  (tensorc not timed)")
        ax.set_title(f"alternatives only (no tensorc timings), --target {doc['target']}, {where}")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


def _fmt_time(t: float | None) -> str:
    if t is None:
        return "-"
    for unit, s in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if t >= s:
            return f"{t / s:.3g} {unit}"
    return f"{t * 1e9:.3g} ns"


def summary_table(doc: dict[str, Any]) -> str:
    """Plain-text table: case, implementation, status, time, throughput, speedup."""
    header = (
        f"{'case':<16} {'implementation':<22} {'status':<9} {'time':>10} "
        f"{'throughput':>20} {'speedup':>8}  detail"
    )
    lines = [header]
    for c in doc["cases"]:
        for r in c["results"]:
            metric = r.get("metric")
            thr = f"{metric['value']:.3g} {metric['unit']}" if metric else "-"
            sp = f"{r['speedup']:.2f}x" if r.get("speedup") else "-"
            detail = r.get("reason") or r.get("error") or ""
            if r.get("rss_delta_bytes") is not None:
                detail = f"peak RSS +{r['rss_delta_bytes'] / 2**20:.1f} MiB " + detail
            detail = detail.replace("\n", " ")
            lines.append(
                f"{c['name']:<16} {r['name']:<22} {r['status']:<9} "
                f"{_fmt_time(r.get('time_s')):>10} {thr:>20} {sp:>8}  {detail[:90]}"
            )
    return "\n".join(lines)
