"""A temporary pgpass file for psql: the password in a 0600 file we delete, not in env or argv.

PGPASSWORD is readable in /proc/<pid>/environ by the same user; a pgpass file in a private
temporary directory is the way libpq documents for keeping it out of the process table.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from supamigrate.dburl import DbTarget


def _escape(field: str) -> str:
    """pgpass fields escape backslash and colon with a backslash (libpq's format)."""
    return field.replace("\\", "\\\\").replace(":", "\\:")


def pgpass_line(target: DbTarget) -> str:
    fields = (target.host, str(target.port), target.database, target.user, target.password or "")
    return ":".join(_escape(f) for f in fields) + "\n"


@contextmanager
def temporary_pgpass(target: DbTarget) -> Iterator[dict[str, str]]:
    """Yield env overrides (PGPASSFILE, no PGPASSWORD); the file is removed on exit."""
    if target.password is None:
        yield {}
        return
    with tempfile.TemporaryDirectory(prefix="supamigrate-") as folder:
        path = str(Path(folder) / "pgpass")
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(pgpass_line(target))
        yield {"PGPASSFILE": path}
