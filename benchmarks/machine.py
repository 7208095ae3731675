"""What the numbers were measured on: CPU, cores, SIMD flags, library versions, GPU."""

from __future__ import annotations

import datetime
import os
import platform
import socket
import subprocess
from importlib import metadata
from typing import Any

# distribution names, read from package metadata so nothing heavy is imported
_PACKAGES = (
    "tensorc",
    "numpy",
    "torch",
    "numba",
    "pykeops",
    "keopscore",
    "llvmlite",
    "triton",
    "opt_einsum",
    "matplotlib",
)


def _cpu_info() -> dict[str, Any]:
    model, flags = platform.processor() or "unknown", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name":
                    model = value.strip()
                elif key == "flags" and not flags:
                    flags = set(value.split())
    except OSError:
        pass
    return {
        "model": model,
        "cores": os.cpu_count(),
        "avx2": "avx2" in flags,
        "fma": "fma" in flags,
        "avx512": sorted(f for f in flags if f.startswith("avx512")),
    }


def _versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _git_commit() -> str | None:
    try:
        res = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            check=False,
            text=True,
            timeout=5,
            cwd=os.path.dirname(os.path.abspath(__file__)),
        )
        return res.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _gpu_info() -> dict[str, Any] | None:
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    props = torch.cuda.get_device_properties(0)
    return {
        "name": props.name,
        "memory_gib": round(props.total_memory / 2**30, 1),
        "capability": f"{props.major}.{props.minor}",
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version(),
    }


def machine_info(target: str) -> dict[str, Any]:
    """Everything a reader needs to compare two result files."""
    info: dict[str, Any] = {
        "host": socket.gethostname(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": _cpu_info(),
        "versions": _versions(),
        "git_commit": _git_commit(),
        "gpu": _gpu_info() if target == "gpu" else None,
    }
    try:
        import torch

        info["torch_threads"] = torch.get_num_threads()
    except ImportError:
        pass
    try:
        with open("/proc/meminfo") as f:
            info["memory_gib"] = round(int(f.readline().split()[1]) / 2**20, 1)
    except OSError:
        pass
    return info
