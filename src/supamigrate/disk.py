"""Two careful disk primitives the mirror and the caches share: replace a file
atomically, and read a cache file only if it is a regular file.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path


def write_atomically(path: Path, content: bytes) -> None:
    """A crash leaves the old file or the new one, never half of one."""
    import tempfile  # here: a read-only command (lint) never writes (5 ms of start-up)

    path.parent.mkdir(parents=True, exist_ok=True)
    # A new, exclusively created temp file: a symlink planted at a predictable temp name can
    # never redirect the write; os.replace swaps the directory entry, not a link's target.
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(content)
        Path(temporary).chmod(0o644)
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def read_regular(path: Path) -> tuple[bytes, int] | None:
    """A cache file's bytes and mtime (ns); None if missing, unreadable, or not a regular
    file (a FIFO or a link to /dev/zero planted there must not hang or fill the run)."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        st = os.fstat(descriptor)
        if not stat.S_ISREG(st.st_mode):
            return None
        with os.fdopen(os.dup(descriptor), "rb") as handle:
            return handle.read(), st.st_mtime_ns
    except OSError:
        return None
    finally:
        os.close(descriptor)
