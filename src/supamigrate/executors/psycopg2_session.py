"""The psycopg2 method's session: one connection per run, opened in the background while
the files are read, and the few primitives the applying half runs on (psycopg2.py).
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from supamigrate.connect.db import Background
from supamigrate.executors import failures as fx
from supamigrate.executors.base import BaseExecutor, Settings
from supamigrate.executors.batch import Notices, warm_up
from supamigrate.executors.envelope import Limits
from supamigrate.executors.results import Failure, Outcome, Result
from supamigrate.history.digests import DIGESTS_NAME
from supamigrate.history.read import ConnectAndRead
from supamigrate.history.table import ADVISORY_LOCK_KEY
from supamigrate.project.files import MigrationFile

if TYPE_CHECKING:
    from psycopg2.extensions import connection


class Psycopg2Session(BaseExecutor):
    """The connection and session half of Psycopg2Executor: open, run, query, close."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.limits = Limits(settings.lock_timeout, settings.statement_timeout)
        # Connecting (several round trips to a far-away project) and reading the history
        # overlap with reading and checking the files (history_read); the first use waits
        # for it and raises its error, if any.
        digests = settings.supabase_dir / ".temp" / DIGESTS_NAME
        self._ahead = ConnectAndRead(settings.target, settings.connect_timeout, digests)
        self._connecting = Background(self._ahead)
        self._connection: connection | None = None
        self._table_ready = False
        self._table_created_here = False  # no table when the history was read
        self._table_made = False  # ... and this run committed one: removed if nothing applied
        self._schema_created_here = False  # nor its schema: removed too then
        self._notices = Notices()

    @classmethod
    def unavailable(cls, settings: Settings) -> str | None:
        return None if importlib.util.find_spec("psycopg2") else "psycopg2 cannot be imported"

    @property
    def _conn(self) -> connection:
        if self._connection is None:
            self._ahead.release()
            conn = self._connecting.result(meanwhile=warm_up)
            conn.notices = self._notices  # psycopg2 calls its append() per notice
            self._connection, self.backend_pid = conn, conn.info.backend_pid
        return self._connection

    @contextmanager
    def runner_lock(self) -> Iterator[None]:
        """Hold the runners' advisory lock in this session (around a tool that takes none);
        waiting for it is never cut short by a role's statement_timeout."""
        key = ADVISORY_LOCK_KEY
        self._run(
            f"SET lock_timeout = 0; SET statement_timeout = 0; SELECT pg_advisory_lock({key});"
        )
        try:
            yield
        finally:
            self._run(
                f"SELECT pg_advisory_unlock({key}); RESET lock_timeout; RESET statement_timeout;"
            )

    def in_transaction(self) -> bool:
        from psycopg2.extensions import TRANSACTION_STATUS_IDLE

        return self._conn.info.transaction_status != TRANSACTION_STATUS_IDLE

    def _query(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        with self._conn.cursor() as cur:
            cur.execute(sql, params or None)  # no params: a literal % stays a %
            return list(cur.fetchall())

    def tenant_tables(self) -> list[int]:
        """The public tables with tenant_id now (boundary_guard.TENANT_TABLES_SQL)."""
        from supamigrate.executors.boundary_guard import TENANT_TABLES_SQL

        rows = self._query(TENANT_TABLES_SQL, ())
        return list(rows[0][0]) if rows else []

    def guard_tenant_tables(self, before: list[int]) -> tuple[str | None, tuple[str, ...]]:
        """The tenant boundary guard over the tables made since `before` (after the CLI's
        push, which runs the files itself), under the configured timeouts: the error's first
        line, if any, and the notices and warnings it raised."""
        from supamigrate.executors.boundary_guard import after_push

        self._notices.clear()
        error = self._run(f"BEGIN;\n{self.limits.sql('LOCAL')}{after_push(before)}COMMIT;")
        if error is not None:
            self._run("ROLLBACK;")
        notices = fx.shown(self._notices.loose)
        self._notices.clear()
        if error is None:
            return None, notices
        primary = getattr(getattr(error, "diag", None), "message_primary", None) or str(error)
        return " ".join(str(primary).split()), notices

    def note_rls_before_004(self) -> tuple[str, ...]:
        """Before a push that applies 004: which platform tables have RLS on now (rls_before;
        the other methods note it inside 004's own transaction). Its warnings, if any."""
        from supamigrate.executors.rls_before import NOTE_SQL

        self._notices.clear()
        if self._run(f"BEGIN;\n{self.limits.sql('LOCAL')}{NOTE_SQL}COMMIT;") is not None:
            self._run("ROLLBACK;")
        notices = fx.shown(self._notices.loose)
        self._notices.clear()
        return notices

    def close(self) -> None:
        """Close; a connection still being made is left to its daemon thread, so an early
        error never waits for connect_timeout."""
        if self._connection is not None:
            self._connection.close()
        elif self._connecting.done():
            self._connecting.discard()

    def _run(self, sql: str) -> Any:
        """Execute; return the driver error instead of raising it (None when it worked)."""
        import psycopg2

        if not sql:
            return None
        try:
            with self._conn.cursor() as cur:
                cur.execute(sql)
        except psycopg2.Error as exc:
            if self._conn.closed:
                raise fx.lost(exc) from None
            return exc
        return None

    def _result(
        self,
        migration: MigrationFile,
        outcome: Outcome,
        started: float,
        failure: Failure | None = None,
    ) -> Result:
        ms = (time.perf_counter() - started) * 1000
        notices = fx.shown(self._notices.loose)
        self._notices.clear()
        return Result(migration, outcome, ms, failure, notices)
