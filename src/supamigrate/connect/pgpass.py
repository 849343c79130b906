"""How psql gets the password: an in-memory pgpass file, never argv, never disk.

libpq reads a password file only if it is a plain file with no group or world access. On
Linux a memfd is exactly that and lives only in memory: we write the pgpass line into one,
make it 0600, hand psql its descriptor (PGPASSFILE=/dev/fd/N), and close it when psql is done.
A SIGKILL at any moment leaves nothing behind, which a temporary file cannot promise. Where
memfd does not exist (macOS), PGPASSWORD in psql's environment is the fallback: readable only
by the same user, and still never on disk.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from supamigrate.connect.dburl import DbTarget


def _escape(field: str) -> str:
    """pgpass fields escape backslash and colon with a backslash (libpq's format)."""
    return field.replace("\\", "\\\\").replace(":", "\\:")


def pgpass_line(target: DbTarget) -> str:
    fields = (target.host, str(target.port), target.database, target.user, target.password or "")
    if any("\n" in f or "\r" in f for f in fields):  # a password file has no escape for them
        from supamigrate.errors import ConfigError

        raise ConfigError(
            "The password (or user or database name) holds a line break, which psql's password "
            "file cannot carry: use --method psycopg2, or change the password."
        )
    return ":".join(_escape(f) for f in fields) + "\n"


@contextmanager
def password_env(target: DbTarget) -> Iterator[tuple[dict[str, str], tuple[int, ...]]]:
    """Yield (environment overrides, descriptors to pass to the child) for one psql run."""
    if target.password is None:
        yield {}, ()
        return
    create = getattr(os, "memfd_create", None)
    if create is None:  # pragma: no cover - not Linux
        yield {"PGPASSWORD": target.password}, ()
        return
    descriptor = create("supamigrate-pgpass", 0)
    try:
        os.fchmod(descriptor, 0o600)
        os.write(descriptor, pgpass_line(target).encode("utf-8"))
        yield {"PGPASSFILE": f"/dev/fd/{descriptor}"}, (descriptor,)
    finally:
        os.close(descriptor)
