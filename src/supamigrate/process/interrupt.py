"""SIGINT and SIGTERM while migrations apply: finish honestly, never vanish mid-sentence.

While applying, a signal only sets a flag. The executors see it: psycopg2 cancels the running
statement (its wait callback polls, so a blocking query is interruptible), psql is sent
SIGINT (it cancels and stops), the CLI is passed the signal. The migration in flight is then
either rolled back (the cancel hit it) or committed (it had finished): the apply loop reports
which, says how many were not run, and exits 130 (SIGINT) or 143 (SIGTERM).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from supamigrate.errors import SupamigrateError

_received: list[int] = []
_children: set[int] = set()  # child processes (psql) that get SIGINT when we are signalled


class Interrupted(SupamigrateError):
    """A signal stopped the run; the message says what happened to each migration."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.exit_code = 128 + signum


def requested() -> int | None:
    """The signal received while applying, if any."""
    return _received[0] if _received else None


def _note(signum: int, frame: FrameType | None) -> None:
    if not _received:
        _received.append(signum)
    for pid in list(_children):
        try:
            os.kill(pid, signal.SIGINT)  # psql: cancel the running statement and stop
        except ProcessLookupError:
            _children.discard(pid)


@contextmanager
def forwarding(pid: int) -> Iterator[None]:
    """While the child runs, a signal to us is passed on to it as SIGINT."""
    _children.add(pid)
    try:
        yield
    finally:
        _children.discard(pid)


_idle: list[Callable[[], object]] = []


def while_waiting(task: Callable[[], object]) -> None:
    """Run `task` once, the next time we wait for the server (in this thread): work for the
    next message is done while the server runs this one. It must not use the connection; an
    error in it is dropped (the same work is done again where it is needed, and fails there)."""
    _idle.append(task)


def drop_waiting() -> None:
    """Forget tasks that found no wait (the server answered first)."""
    _idle.clear()


_gates: dict[int, threading.Event] = {}  # thread -> set when it may read its answer


def read_when(gate: threading.Event) -> None:
    """This thread's next answer is read only once `gate` is set (or a signal came). The
    query is sent at once and the server answers meanwhile; the answer waits in the socket.
    For the history read ahead on the connecting thread: reading 10,000 rows as they stream
    wakes the thread ~70 times, each wakeup taking the GIL from the main thread's file work."""
    _gates[threading.get_ident()] = gate


def _await_gate() -> None:
    gate = _gates.pop(threading.get_ident(), None)
    while gate is not None and not gate.wait(0.2) and not _received:
        pass


_connecting = threading.local()  # .deadline: when the connect under way must give up


@contextmanager
def connecting(seconds: float | None) -> Iterator[None]:
    """Within: a connection still being set up after `seconds` (None: no limit) fails.
    libpq's connect_timeout bounds only its own blocking connect; through the wait callback
    below a server that accepts the socket and never answers would be waited for forever."""
    _connecting.deadline = None if seconds is None else time.monotonic() + seconds
    try:
        yield
    finally:
        _connecting.deadline = None


def wait_interruptibly(conn: Any) -> None:
    """psycopg2's wait callback: poll with a short select, so a signal received while a
    statement runs is seen at once; then ask the server to cancel it (once) and wait for the
    outcome: an error if the cancel hit, the result if the statement had already finished."""
    from psycopg2 import OperationalError
    from psycopg2.extensions import POLL_OK, POLL_READ, POLL_WRITE, STATUS_SETUP

    cancelled = False
    deadline = getattr(_connecting, "deadline", None) if conn.status == STATUS_SETUP else None
    while True:
        state = conn.poll()
        if state == POLL_OK:
            return
        if deadline is not None and time.monotonic() > deadline:
            raise OperationalError("timeout expired")  # libpq's words (connect.db's hint)
        if _received and not cancelled:
            conn.cancel()
            cancelled = True
        if state == POLL_READ and _gates:
            _await_gate()
        if state == POLL_READ and _idle:
            with contextlib.suppress(Exception):
                _idle.pop(0)()
            continue
        if state == POLL_READ:
            select.select([conn.fileno()], [], [], 0.2)
        elif state == POLL_WRITE:
            select.select([], [conn.fileno()], [], 0.2)
        else:
            raise OperationalError(f"unexpected state from poll(): {state}")


@contextmanager
def deferred() -> Iterator[None]:
    """Within: SIGINT and SIGTERM set the flag instead of raising or killing."""
    previous = {sig: signal.signal(sig, _note) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def paused() -> Iterator[None]:
    """Within: a signal received earlier does not cancel queries (the questions asked after a
    run stopped, to report it truly); one received within is kept."""
    earlier = _received[:]
    _received.clear()
    try:
        yield
    finally:
        if earlier:
            _received[:] = earlier


class Stopped(KeyboardInterrupt):
    """SIGTERM outside the apply loop, raised like Ctrl-C's KeyboardInterrupt: the task
    layer says so in one line, and --json still prints its document."""

    def __init__(self, signum: int) -> None:
        super().__init__(name(signum))
        self.signum = signum


def _stop(signum: int, frame: FrameType | None) -> None:
    raise Stopped(signum)


@contextmanager
def terminable() -> Iterator[None]:
    """Within: SIGTERM unwinds like SIGINT does (finally blocks run), instead of killing."""
    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def name(signum: int) -> str:
    return signal.Signals(signum).name
