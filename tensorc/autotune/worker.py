"""Tuning candidates run in a worker process: a candidate that crashes (a segfault in generated
code) or hangs costs that candidate, never the caller.

The parent (`Worker`) starts a Python that runs `serve`, sends it its `sys.path`, then
one `Job` per candidate over a pipe (length-prefixed pickles, both ends are this code) and waits
at most `timeout` seconds for the answer. A worker that dies or overruns is killed; the candidate
is recorded as "crash" (with the signal and the end of the worker's stderr) or "timeout", and the
next candidate starts a fresh worker. A subprocess rather than multiprocessing: spawn would
re-run the caller's `__main__`, fork would copy its threads and CUDA context.
"""

from __future__ import annotations

import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any, Self

from tensorc.autotune.records import Candidate
from tensorc.ir.tensor_ir import Def

STARTUP_TIMEOUT = 300.0  # importing tensorc on a loaded machine
_HEADER = struct.Struct("<Q")


@dataclass(frozen=True)
class Job:
    """One candidate to build, run and time (`outputs`: return the outputs, as numpy arrays)."""

    index: int
    def_: Def
    backend: str
    sizes: dict[str, int]
    candidate: Candidate
    args: tuple
    device: str
    budget: float
    repeats: int


@dataclass(frozen=True)
class Outcome:
    status: str  # "ok" | "error" | "crash" | "timeout"
    seconds: float | None = None
    outputs: dict | None = None
    detail: str = ""


def run_candidate(job: Job, fn: Any = None) -> Outcome:
    """Build `job.candidate`, run it once (outputs), then time it: in the worker process, or
    here with the caller's `Function` when tuning is not isolated."""
    from tensorc.autotune.timing import as_numpy, synchronizer, timed
    from tensorc.runtime.module import Function

    fn = Function(job.def_, job.backend) if fn is None else fn
    sync = synchronizer(job.device)
    try:
        launch = fn._compile(job.backend, job.sizes, job.candidate.schedule, job.candidate.config)
        got = fn._execute(job.backend, launch, job.args, job.sizes, job.device)
        sync()
    except Exception as err:  # noqa: BLE001 - a failing candidate is data, not a crash
        return Outcome("error", detail=f"{type(err).__name__}: {err}"[:200])

    def run() -> None:
        fn._execute(job.backend, launch, job.args, job.sizes, job.device)
        sync()

    outputs = {d.name: as_numpy(got[d.name]) for d in job.def_.outputs}
    return Outcome("ok", timed(run, job.budget, job.repeats), outputs)


class Worker:
    """The parent's handle on one worker process (started on first use, restarted after a
    crash or timeout). Use as a context manager."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.stderr = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(self, runner, job: Job, timeout: float) -> Outcome:
        """`runner(job)` in the worker, within `timeout` seconds (after the worker started)."""
        try:
            if self.proc is None:
                self._start()
            self._send((runner, job))
            answer = self._receive(timeout)
        except TimeoutError:
            self._kill()
            return Outcome("timeout", detail=f"no answer within {timeout:g} s (killed)")
        except (EOFError, OSError, pickle.UnpicklingError):
            return Outcome("crash", detail=self._crash_detail())
        if isinstance(answer, BaseException):
            return Outcome("error", detail=f"{type(answer).__name__}: {answer}"[:200])
        return answer

    def _start(self) -> None:
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the worker
        env = {**os.environ, "PYTHONFAULTHANDLER": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from tensorc.autotune.worker import serve; serve()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            env=env,
            close_fds=True,
        )
        self._send(list(sys.path))
        try:
            if self._receive(STARTUP_TIMEOUT) != "ready":
                raise EOFError
        except TimeoutError:
            self._kill()
            raise EOFError from None

    def _send(self, obj: Any) -> None:
        data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        self.proc.stdin.write(_HEADER.pack(len(data)) + data)
        self.proc.stdin.flush()

    def _receive(self, timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        head = self._read(_HEADER.size, deadline)
        return pickle.loads(self._read(_HEADER.unpack(head)[0], deadline))

    def _read(self, n: int, deadline: float) -> bytes:
        fd, chunks, got = self.proc.stdout.fileno(), [], 0
        while got < n:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError
            chunk = os.read(fd, min(n - got, 1 << 20))
            if not chunk:
                raise EOFError
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    def _crash_detail(self) -> str:
        proc = self.proc
        self._kill()
        code = proc.returncode if proc is not None else None
        what = f"worker exited with {code}"
        if code is not None and code < 0:
            try:
                what = f"worker killed by {signal.Signals(-code).name}"
            except ValueError:
                pass
        tail = ""
        if self.stderr is not None:
            self.stderr.seek(0)
            lines = self.stderr.read().decode(errors="replace").strip().splitlines()
            tail = next((ln.strip() for ln in lines if "Fatal Python error" in ln), "")
        return f"{what}{': ' + tail if tail else ''}"

    def _kill(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            for f in (self.proc.stdin, self.proc.stdout):
                try:
                    f.close()
                except OSError:
                    pass
        self.proc = None

    def close(self) -> None:
        self._kill()
        if self.stderr is not None:
            self.stderr.close()
            self.stderr = None


def serve() -> None:
    """The worker's loop: answer each (runner, job) with `runner(job)` (or the exception)."""
    # answers go to a private copy of stdout; prints of the code under test go to stderr
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    inp = sys.stdin.buffer

    def receive() -> Any:
        head = inp.read(_HEADER.size)
        if len(head) < _HEADER.size:
            raise EOFError
        return pickle.loads(inp.read(_HEADER.unpack(head)[0]))

    def send(obj: Any) -> None:
        data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        out.write(_HEADER.pack(len(data)) + data)
        out.flush()

    sys.path[:] = receive()
    import tensorc  # noqa: F401 - import before the first job's clock starts

    send("ready")
    while True:
        try:
            runner, job = receive()
        except EOFError:
            return
        try:
            answer = runner(job)
        except Exception as err:  # noqa: BLE001 - reported to the parent as the candidate's error
            answer = RuntimeError(f"{type(err).__name__}: {err}")
        send(answer)
