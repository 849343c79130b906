"""When the reader of our output goes away (`supamigrate status | head -1`).

Python ignores SIGPIPE, so the next write to stdout raises BrokenPipeError, and at exit the
interpreter's flush of stdout raises it again. A task stops there with one line on stderr
(edge.guarded); anything else that was printing (Invoke's own `--list`) leaves without a
traceback. Either way stdout is pointed at /dev/null first, so nothing fails at exit, and the
exit code is 141, what a shell shows for a program ended by SIGPIPE.
"""

from __future__ import annotations

import contextlib
import os
import select
import sys
from types import TracebackType

EXIT_CODE = 128 + 13  # SIGPIPE


def message(program: str) -> str:
    return (
        "Stopped: the output's reader closed it (a pipe such as `| head`); "
        f"`{program} status` shows what is applied."
    )


def reader_gone() -> bool:
    """Whether stdout is a pipe nobody reads any more (not some other pipe, e.g. psql's)."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (AttributeError, OSError, ValueError):
        return False


_gone: list[bool] = []  # stdout's reader left during this process (silence_stdout ran)


def gone() -> bool:
    return bool(_gone)


def silence_stdout() -> None:
    """Point stdout at /dev/null: the interpreter's last flush then has nowhere to fail."""
    _gone[:] = [True]
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        if sys.stderr is not None and _same_pipe(sys.stderr):
            os.dup2(sys.stdout.fileno(), sys.stderr.fileno())  # `2>&1 | head`: no reader


def _same_pipe(stream: object) -> bool:
    """Whether `stream` writes where stdout did (after `2>&1`) and that is gone too."""
    try:
        poller = select.poll()
        poller.register(stream.fileno(), select.POLLOUT)  # type: ignore[attr-defined]
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (AttributeError, OSError, ValueError):
        return False


def install() -> None:
    """A BrokenPipeError nobody caught, on stdout's reader leaving: no traceback, exit 141."""
    previous = sys.excepthook
    if getattr(previous, "_supamigrate", False):
        return

    def hook(kind: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, BrokenPipeError) and reader_gone():
            silence_stdout()
            os._exit(EXIT_CODE)  # the interpreter's exit would flush into the broken pipe
        previous(kind, value, tb)

    hook._supamigrate = True  # type: ignore[attr-defined]
    sys.excepthook = hook
