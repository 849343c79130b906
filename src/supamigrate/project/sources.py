"""Reading a configuration file the user points at: read it, or refuse it in one line.

`.env.secrets`, `.env` and `pyproject.toml` are never skipped because of what kind of file they
are: a missing file is simply not there, but one that exists as a directory, a dangling or
looping symlink, a socket, a device or an unreadable file stops the run (falling through to the
next layer could mean another database). A named pipe, the way secret managers (1Password's
environment files, `op inject`, ...) mount `.env` files, is read: we wait for its writer at most
PIPE_WAIT seconds (SUPAMIGRATE_PIPE_WAIT), never forever, and a pipe that nobody writes to in
that time is an error that says so.
"""

from __future__ import annotations

import errno
import os
import select
import stat
import time
from pathlib import Path

from supamigrate.errors import ConfigError

PIPE_WAIT = 10.0  # seconds a secret manager gets to start writing the pipe
_CHUNK = 1 << 16
_PIPE_LIMIT = 1 << 20


def read_config_file(path: Path, *, wait: float | None = None) -> bytes | None:
    """The bytes of `path`, None when nothing is there, ConfigError for anything else."""
    try:
        link = os.lstat(path)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return None
        raise _unreadable(path, exc) from None
    try:
        info = path.stat()
    except OSError as exc:
        if stat.S_ISLNK(link.st_mode):
            target = _link_target(path)
            raise ConfigError(
                f"{path} is a symlink to {target}, which cannot be opened ({_why(exc)}): point "
                "it at the real file, or remove it. Nothing was done."
            ) from None
        raise _unreadable(path, exc) from None
    if stat.S_ISDIR(info.st_mode):
        raise ConfigError(
            f"{path} is a directory, not a file of KEY=value lines: remove or rename it. "
            "Nothing was done."
        )
    if stat.S_ISFIFO(info.st_mode):
        return _read_pipe(path, _pipe_wait() if wait is None else wait)
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(
            f"{path} is not a regular file (a socket or a device): replace it with a file of "
            "KEY=value lines, or remove it. Nothing was done."
        )
    try:
        return path.read_bytes()
    except OSError as exc:
        raise _unreadable(path, exc) from None


def _pipe_wait() -> float:
    raw = os.environ.get("SUPAMIGRATE_PIPE_WAIT", "").strip()
    try:
        value = float(raw) if raw else PIPE_WAIT
    except ValueError:
        value = -1.0
    if not 0 < value <= 3600:
        raise ConfigError(
            f"SUPAMIGRATE_PIPE_WAIT {raw!r} must be a number of seconds from 0 to 3600."
        )
    return value


def _read_pipe(path: Path, wait: float) -> bytes:
    """A named pipe's content up to its writer's end-of-file. Opened without blocking (an open
    for reading would wait for a writer forever); `wait` seconds for the first byte or EOF."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise _unreadable(path, exc) from None
    parts: list[bytes] = []
    deadline = time.monotonic() + wait
    try:
        poller = select.poll()
        poller.register(descriptor, select.POLLIN)
        while True:
            left = deadline - time.monotonic()
            # Linux reports nothing (not a hang-up) while no writer has opened the pipe yet.
            if left <= 0 or not poller.poll(int(left * 1000) + 1):
                raise ConfigError(
                    f"{path} is a named pipe and nothing wrote to it within {wait:g} s: start "
                    "the secret manager that provides it (or set SUPAMIGRATE_PIPE_WAIT), or "
                    "replace it with a file. Nothing was done."
                )
            try:
                chunk = os.read(descriptor, _CHUNK)
            except BlockingIOError:
                continue
            if not chunk:  # the writer closed it: the whole content is here
                return b"".join(parts)
            parts.append(chunk)
            if sum(map(len, parts)) > _PIPE_LIMIT:  # a writer that never stops is no .env
                raise ConfigError(
                    f"{path} is a named pipe that sent more than {_PIPE_LIMIT // 1024} KiB: "
                    "that is no KEY=value file; check what writes to it. Nothing was done."
                )
            deadline = max(deadline, time.monotonic() + 1.0)  # a writer mid-way: keep reading
    finally:
        os.close(descriptor)


def _link_target(path: Path) -> str:
    try:
        return str(path.readlink())
    except OSError:
        return "(unknown)"


def _why(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def _unreadable(path: Path, exc: OSError) -> ConfigError:
    return ConfigError(
        f"{path} cannot be read ({_why(exc)}): fix its permissions or remove it. Nothing was done."
    )
