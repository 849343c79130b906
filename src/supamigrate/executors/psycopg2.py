"""The psycopg2 executor: one connection per run, one round trip per migration.

Each migration goes to the server as ONE simple-query message:

    BEGIN; RESET ALL; <advisory lock>; <re-check history>; SET LOCAL lock_timeout ...;
    <the file>; <history insert>; COMMIT;

so a remote project 20-100 ms away costs one round trip per migration, not one per
statement. An error aborts the rest of the message; we send ROLLBACK and the database is as
it was before that migration. Simple-query messages carry no server-side prepared statements
and nothing outlives the transaction, which is what Supabase's transaction pooler needs.
"""

from __future__ import annotations

import time
from collections import deque
from typing import TYPE_CHECKING, Any

from supamigrate.db import Background, connect
from supamigrate.dburl import DbTarget
from supamigrate.executors.base import Failure, Outcome, Result
from supamigrate.files import MigrationFile
from supamigrate.history import (
    ADVISORY_LOCK_KEY,
    CREATE_TABLE,
    SELECT_ROWS,
    TABLE,
    HistoryRow,
    ensure_table_sql,
    is_already_applied,
    recheck_sql,
    record_sql,
)
from supamigrate.masking import mask
from supamigrate.sqlsplit import (
    Statement,
    is_no_transaction,
    line_of,
    split_statements,
    statement_at,
)

if TYPE_CHECKING:
    from psycopg2.extensions import connection

# Re-running to find the failing statement would only wait or fail the same way again.
_NO_RELOCATE = ("55P03", "57014", "57P01", "40P01")


class Psycopg2Executor:
    name = "psycopg2"

    def __init__(
        self,
        target: DbTarget,
        *,
        lock_timeout: str = "5s",
        statement_timeout: str = "",
        connect_timeout: int = 10,
    ) -> None:
        self.target = target
        self.lock_timeout = lock_timeout
        self.statement_timeout = statement_timeout
        # Connecting (several round trips to a far-away project) overlaps with reading and
        # checking the files; the first use waits for it and raises its error, if any.
        self._connecting = Background(lambda: connect(target, connect_timeout=connect_timeout))
        self._connection: connection | None = None
        self._table_ready = False

    @property
    def _conn(self) -> connection:
        if self._connection is None:
            conn = self._connecting.result()
            conn.autocommit = True  # we write BEGIN/COMMIT ourselves, in the same message
            conn.notices = deque(maxlen=200)
            self._connection = conn
        return self._connection

    def wait_connected(self) -> None:
        """Raise DatabaseUnavailable now if the connection cannot be made."""
        self._conn  # noqa: B018 - the property waits for the connection

    @property
    def _liveness(self) -> str:
        """PG 14+: notice a vanished client during a long statement and roll back, instead
        of finishing (and committing) a migration whose runner was killed."""
        if self._conn.server_version >= 140000:
            return "SET LOCAL client_connection_check_interval = '1s';\n"
        return ""

    # --- history -------------------------------------------------------------------------

    def read_history(self) -> list[HistoryRow]:
        """The history rows; [] when the table does not exist yet (nothing is created)."""
        import psycopg2.errors

        try:
            with self._conn.cursor() as cur:
                cur.execute(SELECT_ROWS)
                rows = cur.fetchall()
        except (psycopg2.errors.UndefinedTable, psycopg2.errors.InvalidSchemaName):
            return []
        except psycopg2.Error as exc:
            raise _history_error("read", exc) from None
        self._table_ready = True
        return [HistoryRow(v, n, tuple(s) if s is not None else None) for v, n, s in rows]

    def _ensure_table(self) -> None:
        if not self._table_ready:
            error = self._run(ensure_table_sql())
            if error is not None:
                self._run("ROLLBACK;")
                raise _history_error("create", error)
            self._table_ready = True

    # --- applying --------------------------------------------------------------------------

    def apply(self, migration: MigrationFile, *, rerun: bool) -> Result:
        self._ensure_table()
        if is_no_transaction(migration.sql):
            return self._apply_no_transaction(migration, rerun=rerun)
        statements = split_statements(migration.sql)
        # RESET ALL first inside the transaction, so a setting another client of a pooled
        # backend left behind cannot reach the migration (tests/test_pooler.py).
        prefix = "BEGIN;\nRESET ALL;\n" + self._lock_and_check(migration, rerun=rerun)
        prefix += self._timeouts("LOCAL")
        suffix = self._record(migration, statements, rerun=rerun) + "\nCOMMIT;"
        started = time.perf_counter()
        error = self._run(prefix + migration.sql + "\n;\n" + suffix)
        if error is None:
            return self._result(migration, Outcome.OK, started)
        self._run("ROLLBACK;")
        if is_already_applied(_sqlstate(error), str(error)):
            return self._result(migration, Outcome.SKIPPED, started)
        failure = self._locate(error, migration, statements, prefix, suffix, outer="transaction")
        return self._result(migration, Outcome.FAILED, started, failure)

    def rehearse(self, migrations: list[MigrationFile]) -> list[Result]:
        """Run them all in one transaction and roll it back: proof they work, nothing kept."""
        results: list[Result] = []
        # The history table, if missing, is created inside the rehearsal and rolled back too.
        lock = f"SELECT pg_advisory_xact_lock({ADVISORY_LOCK_KEY});"
        self._run(f"BEGIN;\nRESET ALL;\n{lock}\n{CREATE_TABLE}")
        try:
            for migration in migrations:
                statements = split_statements(migration.sql)
                prefix = "SAVEPOINT supamigrate_rehearsal;\n" + self._timeouts("LOCAL")
                suffix = self._record(migration, statements, rerun=True)
                suffix += "\nRELEASE SAVEPOINT supamigrate_rehearsal;"
                started = time.perf_counter()
                error = self._run(prefix + migration.sql + "\n;\n" + suffix)
                if error is None:
                    results.append(self._result(migration, Outcome.OK, started))
                    continue
                self._run("ROLLBACK TO SAVEPOINT supamigrate_rehearsal;")
                failure = self._locate(
                    error, migration, statements, prefix, suffix, outer="savepoint"
                )
                results.append(self._result(migration, Outcome.FAILED, started, failure))
                break
        finally:
            self._run("ROLLBACK;")
        return results

    def close(self) -> None:
        """Close; a connection still being made is left to its daemon thread, so an early
        error never waits for connect_timeout."""
        if self._connection is not None:
            self._connection.close()
        elif self._connecting.done():
            self._connecting.discard()

    # --- pieces ----------------------------------------------------------------------------

    def _lock_and_check(self, migration: MigrationFile, *, rerun: bool) -> str:
        sql = f"SELECT pg_advisory_xact_lock({ADVISORY_LOCK_KEY});\n"
        return sql if rerun else sql + recheck_sql(migration.version) + "\n"

    def _timeouts(self, scope: str) -> str:
        """SET [LOCAL] timeouts; only after the advisory lock, so waiting for it never times out."""
        lock = self.lock_timeout or "0"
        statement = self.statement_timeout or "0"
        return (
            f"SET {scope} lock_timeout = '{lock}';\n"
            f"SET {scope} statement_timeout = '{statement}';\n"
            + self._liveness.replace("LOCAL", scope)
        )

    def _record(self, migration: MigrationFile, statements: list[Statement], *, rerun: bool) -> str:
        texts = [s.text for s in statements]
        return record_sql(migration.version, migration.name, texts, replace=rerun)

    def _run(self, sql: str) -> Any:
        """Execute; return the driver error instead of raising it (None when it worked)."""
        import psycopg2

        try:
            with self._conn.cursor() as cur:
                cur.execute(sql)
        except psycopg2.Error as exc:
            if self._conn.closed:
                raise _lost(exc) from None
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
        notices = tuple(mask(n.strip()) for n in self._conn.notices)
        self._conn.notices.clear()
        return Result(migration, outcome, ms, failure, notices)

    def _locate(
        self,
        error: Any,
        migration: MigrationFile,
        statements: list[Statement],
        prefix: str,
        suffix: str,
        *,
        outer: str,
    ) -> Failure:
        """The failing statement: from the server's error position, else by a rolled-back re-run."""
        base = _failure(error)
        position = _position(error)
        if position is not None:
            offset = position - 1 - len(prefix)
            found = statement_at(statements, offset) if 0 <= offset < len(migration.sql) else None
            if found is not None:
                return _with_statement(base, found, "position", line_of(migration.sql, offset))
        if base.sqlstate in _NO_RELOCATE or not statements:
            return base
        found = self._rerun_to_find(statements, suffix, outer=outer)
        return _with_statement(base, found, "re-run") if found is not None else base

    def _rerun_to_find(
        self, statements: list[Statement], suffix: str, *, outer: str
    ) -> Statement | None:
        begin, undo = ("BEGIN;", "ROLLBACK;")
        if outer == "savepoint":
            begin, undo = (
                "SAVEPOINT supamigrate_locate;",
                "ROLLBACK TO SAVEPOINT supamigrate_locate;",
            )
        self._run(begin + self._timeouts("LOCAL"))
        try:
            for statement in statements:
                if self._run(statement.text) is not None:
                    return statement
            if self._run(suffix.split("\nRELEASE", 1)[0].split("\nCOMMIT", 1)[0]) is not None:
                return Statement(
                    "(the history insert into supabase_migrations.schema_migrations)", 0, 0
                )
            return None
        finally:
            self._run(undo)
            self._conn.notices.clear()

    def _apply_no_transaction(self, migration: MigrationFile, *, rerun: bool) -> Result:
        """Statement by statement outside a transaction (CREATE INDEX CONCURRENTLY and such).

        Uses a session-level advisory lock, so it needs a direct or session-pooler connection.
        """
        statements = split_statements(migration.sql)
        started = time.perf_counter()
        self._run(f"RESET ALL; SELECT pg_advisory_lock({ADVISORY_LOCK_KEY});")
        ran: list[str] = []
        try:
            if not rerun and self._already_recorded(migration.version):
                return self._result(migration, Outcome.SKIPPED, started)
            self._run(self._timeouts("SESSION"))
            for statement in statements:
                error = self._run(statement.text)
                if error is not None:
                    failure = _with_statement(_failure(error), statement, "statement")
                    failure = Failure(**{**failure.__dict__, "ran": tuple(ran)})
                    outcome = Outcome.PARTIAL if ran else Outcome.FAILED
                    return self._result(migration, outcome, started, failure)
                ran.append(statement.text)
            error = self._run(self._record(migration, statements, rerun=rerun))
            if error is not None:
                failure = Failure(**{**_failure(error).__dict__, "ran": tuple(ran)})
                return self._result(migration, Outcome.PARTIAL, started, failure)
            return self._result(migration, Outcome.OK, started)
        finally:
            self._run(f"SELECT pg_advisory_unlock({ADVISORY_LOCK_KEY}); RESET ALL;")

    def _already_recorded(self, version: str) -> bool:
        with self._conn.cursor() as cur:
            cur.execute(f"SELECT 1 FROM {TABLE} WHERE version = %s", (version,))
            return cur.fetchone() is not None


def _sqlstate(error: Any) -> str:
    return str(getattr(error, "pgcode", None) or "")


def _position(error: Any) -> int | None:
    diag = getattr(error, "diag", None)
    raw = getattr(diag, "statement_position", None) if diag is not None else None
    return int(raw) if raw else None


def _failure(error: Any) -> Failure:
    diag = getattr(error, "diag", None)
    primary = getattr(diag, "message_primary", None) or str(error).strip().splitlines()[0]
    return Failure(
        sqlstate=_sqlstate(error) or "?????",
        message=mask(primary),
        detail=mask(getattr(diag, "message_detail", None) or ""),
        hint=mask(getattr(diag, "message_hint", None) or ""),
    )


def _with_statement(
    base: Failure, statement: Statement, how: str, line: int | None = None
) -> Failure:
    return Failure(
        base.sqlstate,
        base.message,
        base.detail,
        base.hint,
        statement=mask(statement.text),
        line=line or statement.line,
        located_by=how,
        ran=base.ran,
    )


def _history_error(action: str, exc: Any) -> Exception:
    from supamigrate.errors import DatabaseUnavailable

    reason = _failure(exc)
    return DatabaseUnavailable(
        f"Cannot {action} the history table {TABLE} ({reason.sqlstate}: {reason.message}): "
        "connect as a role that may (on Supabase, the postgres role), or ask an owner to "
        f"create it and grant you access. Nothing was applied."
    )


def _lost(exc: Exception) -> Exception:
    from supamigrate.errors import DatabaseUnavailable

    return DatabaseUnavailable(
        mask(
            f"The connection was lost mid-migration ({' '.join(str(exc).split())}): the "
            "migration in flight was rolled back by the server. Re-run `invoke migrate`."
        )
    )
