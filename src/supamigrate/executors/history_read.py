"""Reading the history table over a psycopg2 connection, also ahead of time.

The psycopg2 executor connects on a background thread as soon as it is made, and reads the
history right after, on that thread: the server's work and the transfer (the statements of
10,000 rows are ~14 MB) overlap with reading and mirroring the files. The first
read_history() takes that result; later ones read again (the CLI method reads before and
after its push).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from supamigrate.db import connect
from supamigrate.dburl import DbTarget
from supamigrate.history import SELECT_JOINED, HistoryRow

if TYPE_CHECKING:
    from psycopg2.extensions import connection


@dataclass(frozen=True)
class Fetched:
    """The rows, or that there is no table yet (rows None, error None), or the driver error."""

    rows: list[HistoryRow] | None
    error: Any = None


def fetch_history(conn: connection) -> Fetched:
    import psycopg2.errors

    try:
        with conn.cursor() as cur:
            cur.execute(SELECT_JOINED)
            found = cur.fetchall()
    except (psycopg2.errors.UndefinedTable, psycopg2.errors.InvalidSchemaName):
        return Fetched(None)
    except psycopg2.Error as exc:
        return Fetched(None, exc)
    return Fetched([HistoryRow.joined(version, name, joined) for version, name, joined in found])


@dataclass
class ConnectAndRead:
    """Background work: connect (autocommit: we write BEGIN/COMMIT ourselves), then read."""

    target: DbTarget
    connect_timeout: int
    fetched: Fetched | None = None

    def __call__(self) -> connection:
        conn = connect(self.target, connect_timeout=self.connect_timeout)
        conn.autocommit = True
        self.fetched = fetch_history(conn)
        return conn

    def take(self) -> Fetched | None:
        """The rows read ahead, once; None afterwards."""
        fetched, self.fetched = self.fetched, None
        return fetched
