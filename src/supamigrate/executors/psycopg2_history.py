"""The psycopg2 method's history table: read it, make it the plain way, and remove it
again after a first run that applied nothing.

A first run usually makes the table inside its first migration's transaction (psycopg2.py),
which a failure rolls back with it; the plain way here is for a first no-transaction file and
for where that could not be done (it says what stops it).
"""

from __future__ import annotations

from typing import Any

from supamigrate.executors import failures as fx
from supamigrate.executors.psycopg2_session import Psycopg2Session
from supamigrate.history.read import fetch_history
from supamigrate.history.table import (
    ADVISORY_LOCK_KEY,
    BEGIN,
    SCHEMA,
    SCHEMA_MADE_MARK,
    TABLE,
    HistoryRow,
    drop_if_unused_sql,
    ensure_table_sql,
)


class Psycopg2History(Psycopg2Session):
    def read_history(self) -> list[HistoryRow]:
        """The history rows; [] when the table does not exist yet (nothing is created)."""
        conn = self._conn
        fetched = self._ahead.take() or fetch_history(conn)
        if fetched.error is not None:
            raise fx.history_error("read", fetched.error) from None
        if fetched.rows is None:
            self._table_created_here = True  # if we create it, a failed first run removes it
            return []
        self._table_ready = True
        return fetched.rows

    def _ensure_table(self) -> None:
        if not self._table_ready:
            self._notices.clear()
            error = self._run(ensure_table_sql())
            # Told by the transaction that made it: a schema made beforehand (a dashboard, a
            # script) is never ours to drop.
            made = any(SCHEMA_MADE_MARK in n for n in self._notices.loose)
            self._notices.clear()
            if error is not None:
                self._run("ROLLBACK;")
                error, made = self._ensure_table_plainly(error)
            if error is not None:
                raise fx.history_error("create", error)
            self._table_ready = True
            self._table_made = self._table_created_here
            self._schema_created_here = made

    def _ensure_table_plainly(self, error: Any) -> tuple[Any, bool]:
        """Where plpgsql is not the runner's to use (its DO said so): ask about the schema
        first, a round trip more, then make the table without it. (error or None, made)."""
        import psycopg2

        if not _no_plpgsql(error):
            return error, False
        try:
            with self._conn.cursor() as cur:
                cur.execute(f"SELECT to_regnamespace('{SCHEMA}') IS NULL")
                row = cur.fetchone()
        except psycopg2.Error as exc:
            return exc, False
        error = self._run(ensure_table_sql(announce=False))
        if error is not None:
            self._run("ROLLBACK;")
        return error, bool(row and row[0])

    def _drop_if_unused(self) -> None:
        """A first run that applied nothing leaves no table (nor a schema it made)."""
        error = self._run(drop_if_unused_sql(schema=self._schema_created_here))
        if error is not None:
            self._run("ROLLBACK;")
            if _no_plpgsql(error):
                self._drop_if_unused_plainly()
        self._table_ready = self._table_made = False  # (--continue-on-error: made again)

    def _drop_if_unused_plainly(self) -> None:
        """drop_if_unused_sql without its DO block: the questions asked one at a time, in one
        transaction under the runners' lock."""
        import psycopg2

        empty = f"SELECT NOT EXISTS (SELECT 1 FROM {TABLE})"
        bare = (
            "SELECT NOT EXISTS (SELECT 1 FROM pg_class "
            f"WHERE relnamespace = '{SCHEMA}'::regnamespace)"
        )
        try:
            self._query(f"{BEGIN}SELECT pg_advisory_xact_lock({ADVISORY_LOCK_KEY})", ())
            if self._query(empty, ()) == [(True,)]:
                self._query(f"DROP TABLE {TABLE}; SELECT true", ())
                if self._schema_created_here and self._query(bare, ()) == [(True,)]:
                    self._query(f"DROP SCHEMA {SCHEMA}; SELECT true", ())
            self._run("COMMIT;")
        except psycopg2.Error:
            self._run("ROLLBACK;")  # left as it is: the next run uses the table


def _no_plpgsql(error: Any) -> bool:
    """The server refused a DO block: plpgsql is not the runner's to use."""
    return fx.sqlstate(error) == "42501" and "plpgsql" in str(error)
