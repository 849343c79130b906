"""Work in a forked child, its result read back through a pipe: the second core for a part of
a run that needs no lock, no connection and no import (lint's later half, the stats of
supabase/migrations on a big project).

A bare fork and a pipe, not a multiprocessing Pool: the child already holds what it works on
(a Pool pickles it across), and a Pool's SIGTERM at exit met our interrupt handler. The child
imports nothing, touches no connection and leaves with os._exit (no cleanup of the parent's
state, no flush of its buffers), so a fork beside the parent's connecting thread is safe.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pickle
import signal
from collections.abc import Callable
from typing import Generic, TypeVar

_PIPE_BYTES = 1 << 20  # the most an unprivileged process may ask for (pipe-max-size)
T = TypeVar("T")


def two_cores() -> bool:
    """Whether a forked child gets a core of its own."""
    if not hasattr(os, "fork"):
        return False
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (cores or 1) >= 2


class Forked(Generic[T]):
    """`work` in a forked child; `result()` its return value, None if it failed (the caller
    then does the work itself); `stop()` in a `finally` (kills a child not yet read)."""

    def __init__(self, work: Callable[[], T]) -> None:
        self._read, write = os.pipe()
        with contextlib.suppress(OSError, AttributeError):  # Linux: one write, no ping-pong
            fcntl.fcntl(write, fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
        self._pid = os.fork()
        if self._pid == 0:  # the child
            status = 1
            try:
                os.close(self._read)
                payload = pickle.dumps(work(), protocol=pickle.HIGHEST_PROTOCOL)
                with os.fdopen(write, "wb") as pipe:
                    pipe.write(payload)
                status = 0
            finally:
                os._exit(status)
        os.close(write)

    def result(self) -> T | None:
        """The child's result; None when it failed."""
        with os.fdopen(self._read, "rb") as pipe:
            self._read = -1
            payload = pipe.read()
        # Read before reaping: the child's exit (freeing its memory) overlaps our reading. A
        # child that died while writing left a truncated pickle, which does not load.
        try:
            outcome: T | None = pickle.loads(payload)  # noqa: S301  # our own child's
        except (pickle.UnpicklingError, EOFError, ValueError):
            outcome = None
        _, status = os.waitpid(self._pid, 0)
        self._pid = 0
        return outcome if status == 0 else None

    def stop(self) -> None:
        """The parent stopped before reading the result (an interrupt, an error): stop the
        child too."""
        if self._pid:
            with contextlib.suppress(ProcessLookupError, ChildProcessError):
                os.kill(self._pid, signal.SIGKILL)
                os.waitpid(self._pid, 0)
            self._pid = 0
        if self._read >= 0:
            os.close(self._read)
            self._read = -1
