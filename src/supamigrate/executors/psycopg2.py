"""The psycopg2 method: one connection per run, one round trip per migration.

Each migration is its envelope (envelope.py) sent as ONE simple-query message, so a remote
project 20-100 ms away costs one round trip per migration, not one per statement. An error
aborts the rest of the message; we send ROLLBACK and the database is as it was before that
migration. Simple-query messages carry no server-side prepared statements and nothing
outlives the transaction, which is what Supabase's transaction pooler needs.
"""

from __future__ import annotations

import importlib.util
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar

from supamigrate import interrupt
from supamigrate.db import Background, connect
from supamigrate.envelope import (
    CLEAN_SESSION,
    Envelope,
    Limits,
    is_state_error,
    state_problem,
    wrap,
)
from supamigrate.errors import UsageError
from supamigrate.executors import failures as fx
from supamigrate.executors.base import (
    BaseExecutor,
    Capabilities,
    Failure,
    OnResult,
    Outcome,
    Result,
    Settings,
)
from supamigrate.files import MigrationFile
from supamigrate.history import (
    ADVISORY_LOCK_KEY,
    CREATE_TABLE,
    DROP_IF_UNUSED,
    SELECT_ROWS,
    HistoryRow,
    ensure_table_sql,
    is_already_applied,
)
from supamigrate.masking import mask
from supamigrate.reading import read_sql
from supamigrate.sqlsplit import Statement, line_of, statement_at
from supamigrate.trace import trace_statements

if TYPE_CHECKING:
    from psycopg2.extensions import connection

# A rehearsal's transaction can never commit: a deferred trigger fails any COMMIT of it, so
# a COMMIT hidden in a file (or one the checks missed) rolls everything back instead.
REHEARSAL_GUARD = """
CREATE FUNCTION pg_temp.supamigrate_never_commit() RETURNS trigger LANGUAGE plpgsql AS
$$BEGIN RAISE EXCEPTION 'supamigrate: a rehearsal never commits'; END$$;
CREATE TEMP TABLE supamigrate_rehearsal_guard (x int) ON COMMIT DROP;
CREATE CONSTRAINT TRIGGER supamigrate_never_commit AFTER INSERT ON supamigrate_rehearsal_guard
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION pg_temp.supamigrate_never_commit();
INSERT INTO supamigrate_rehearsal_guard VALUES (1);
"""


class LiveNotices(deque[str]):
    """psycopg2 appends each notice here as it arrives (its wait callback polls, so mid-
    statement); while `live` is set they are also passed on at once, masked."""

    live: Callable[[str], None] | None = None

    def append(self, notice: str) -> None:
        super().append(notice)
        if self.live is not None:
            self.live(mask(notice.strip()))


class Psycopg2Executor(BaseExecutor):
    name: ClassVar[str] = "psycopg2"
    capabilities: ClassVar[Capabilities] = Capabilities(rehearse=True)

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.limits = Limits(settings.lock_timeout, settings.statement_timeout)
        # Connecting (several round trips to a far-away project) overlaps with reading and
        # checking the files; the first use waits for it and raises its error, if any.
        target, timeout = settings.target, settings.connect_timeout
        self._connecting = Background(lambda: connect(target, connect_timeout=timeout))
        self._connection: connection | None = None
        self._notices = LiveNotices(maxlen=200)
        self._table_ready = False
        self._table_created_here = False
        self._rehearsal_began = ""

    @classmethod
    def unavailable(cls, settings: Settings) -> str | None:
        return None if importlib.util.find_spec("psycopg2") else "psycopg2 cannot be imported"

    @property
    def _conn(self) -> connection:
        if self._connection is None:
            conn = self._connecting.result()
            conn.autocommit = True  # we write BEGIN/COMMIT ourselves, in the same message
            conn.notices = self._notices  # psycopg2 takes any object with append()
            self._connection = conn
        return self._connection

    # --- history -------------------------------------------------------------------------

    def read_history(self) -> list[HistoryRow]:
        """The history rows; [] when the table does not exist yet (nothing is created)."""
        import psycopg2.errors

        try:
            with self._conn.cursor() as cur:
                cur.execute(SELECT_ROWS)
                rows = cur.fetchall()
        except (psycopg2.errors.UndefinedTable, psycopg2.errors.InvalidSchemaName):
            self._table_created_here = True  # if we create it, a failed first run removes it
            return []
        except psycopg2.Error as exc:
            raise fx.history_error("read", exc) from None
        self._table_ready = True
        return [HistoryRow(v, n, tuple(s) if s is not None else None) for v, n, s in rows]

    def _ensure_table(self) -> None:
        if not self._table_ready:
            error = self._run(ensure_table_sql())
            if error is not None:
                self._run("ROLLBACK;")
                raise fx.history_error("create", error)
            self._table_ready = True

    # --- applying --------------------------------------------------------------------------

    def apply(
        self, todo: Sequence[MigrationFile], *, rerun: bool, on_result: OnResult
    ) -> list[Result]:
        self._ensure_table()
        results: list[Result] = []
        for migration in todo:
            envelope = wrap(migration, self.limits, rerun=rerun)
            if envelope.transactional:
                result = self._apply_transaction(envelope)
            else:
                result = self._apply_statements(envelope)
            results.append(result)
            on_result(result)
            if result.stops_run or interrupt.requested() is not None:
                break
        if self._table_created_here and not any(r.outcome is Outcome.OK for r in results):
            self._run(DROP_IF_UNUSED)
        return results

    def _apply_transaction(self, envelope: Envelope) -> Result:
        started = time.perf_counter()
        message, body_at = envelope.message()
        error = self._run(message)
        if error is None:
            return self._result(envelope.migration, Outcome.OK, started)
        self._run("ROLLBACK;")
        if is_already_applied(fx.sqlstate(error), str(error)):
            return self._result(envelope.migration, Outcome.SKIPPED, started)
        failure = self._locate(error, envelope, body_at, outer="transaction")
        return self._result(envelope.migration, Outcome.FAILED, started, failure)

    def _apply_statements(self, envelope: Envelope) -> Result:
        """A no-transaction file: statement by statement, under a session advisory lock, so
        a failure can say exactly which statements ran and stay applied."""
        started, migration = time.perf_counter(), envelope.migration
        # Statement by statement, often long (a backfill): show its notices as they come.
        self._notices.live = self.settings.on_notice
        self._run(envelope.before_check)
        ran: list[str] = []
        try:
            error = self._run(envelope.recheck_sql())
            if error is not None:
                if is_already_applied(fx.sqlstate(error), str(error)):
                    return self._result(migration, Outcome.SKIPPED, started)
                return self._result(migration, Outcome.FAILED, started, fx.failure(error))
            self._run(envelope.after_check)
            for statement in envelope.statements:
                error = self._run(statement.text)
                if error is not None:
                    failure = fx.with_statement(fx.failure(error), statement, "statement")
                    failure = Failure(**{**failure.__dict__, "ran": tuple(ran)})
                    outcome = Outcome.PARTIAL if ran else Outcome.FAILED
                    return self._result(migration, outcome, started, failure)
                ran.append(statement.text)
            error = self._run(envelope.after_body)  # state check, history row, unlock
            if error is None:
                return self._result(migration, Outcome.OK, started)
            return self._result(migration, Outcome.PARTIAL, started, _end_failure(error, ran))
        finally:
            self._notices.live = None
            self._finish_session(envelope)

    def _finish_session(self, envelope: Envelope) -> None:
        """After a no-transaction file: end a transaction it left open, unlock and clean the
        session unless its envelope already did (which it does when everything ran)."""
        from psycopg2.extensions import TRANSACTION_STATUS_IDLE

        if self._conn.info.transaction_status != TRANSACTION_STATUS_IDLE:
            self._run("ROLLBACK;")
        self._run("SELECT pg_advisory_unlock_all();\n" + CLEAN_SESSION)
        self._notices.clear()

    def rehearse(self, todo: Sequence[MigrationFile]) -> list[Result]:
        """Run them all in one transaction and roll it back: proof they work, nothing kept."""
        results: list[Result] = []
        # The history table, if missing, is created inside the rehearsal and rolled back too.
        lock = f"SELECT pg_advisory_xact_lock({ADVISORY_LOCK_KEY});"
        error = self._run(f"BEGIN;\nRESET ALL;\n{lock}\n{CREATE_TABLE}{REHEARSAL_GUARD}")
        if error is not None:
            self._run("ROLLBACK;")
            raise fx.history_error("create", error)
        self._rehearsal_began = self._now()
        try:
            for migration in todo:
                result = self._rehearse_one(wrap(migration, self.limits, rerun=True))
                results.append(result)
                if result.stops_run:
                    break
        finally:
            self._run("ROLLBACK;")
        return results

    def _rehearse_one(self, envelope: Envelope) -> Result:
        """One file under a savepoint, statement by statement as Postgres's parser reads it,
        traced (locks taken, relations rewritten, time); then its history row."""
        started, migration = time.perf_counter(), envelope.migration
        self._run("SAVEPOINT supamigrate_rehearsal;\n" + self.limits.sql("LOCAL"))
        reading = read_sql(migration.sql)
        steps = [(st.line, st.text) for st in reading.statements]
        trace, error = trace_statements(steps, self._run_in_rehearsal, self._query)
        if error is None:
            error = self._run_in_rehearsal(envelope.record)
        if error is None:
            self._run("RELEASE SAVEPOINT supamigrate_rehearsal;")
            return replace(self._result(migration, Outcome.OK, started), trace=trace)
        self._run("ROLLBACK TO SAVEPOINT supamigrate_rehearsal;")
        failure = fx.failure(error)
        if trace.statements and trace.statements[-1].error:
            last = trace.statements[-1]
            failure = fx.with_statement(failure, Statement(last.text, 0, last.line), "statement")
        result = self._result(migration, Outcome.FAILED, started, failure)
        return replace(result, trace=trace)

    def _run_in_rehearsal(self, sql: str) -> Any:
        """Run inside the rehearsal's transaction; a statement that ended it is an error, so
        nothing after it can run outside the transaction (and commit)."""
        from psycopg2.extensions import TRANSACTION_STATUS_IDLE

        error = self._run(sql)
        if error is not None:
            return error
        ended = self._conn.info.transaction_status == TRANSACTION_STATUS_IDLE
        if ended or self._now() != self._rehearsal_began:  # ROLLBACK/COMMIT AND CHAIN: a new one
            self._run("ROLLBACK;")
            raise UsageError(
                "A statement ended the rehearsal's transaction; the rehearsal stopped there and "
                "everything it ran was rolled back. Remove transaction control from the file."
            )
        return None

    def _now(self) -> str:
        """The transaction's start time: it changes only if a file started another one."""
        return str(self._query("SELECT now()::text", ())[0][0])

    def _query(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        with self._conn.cursor() as cur:
            cur.execute(sql, params or None)  # no params: a literal % stays a %
            return list(cur.fetchall())

    def close(self) -> None:
        """Close; a connection still being made is left to its daemon thread, so an early
        error never waits for connect_timeout."""
        if self._connection is not None:
            self._connection.close()
        elif self._connecting.done():
            self._connecting.discard()

    # --- pieces ----------------------------------------------------------------------------

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
        notices = tuple(
            mask(n.strip())
            for n in self._conn.notices
            if "there is no transaction in progress" not in n  # our own ROLLBACK's echo
        )
        self._conn.notices.clear()
        return Result(migration, outcome, ms, failure, notices)

    def _locate(self, error: Any, envelope: Envelope, body_at: int, *, outer: str) -> Failure:
        """The failing statement: from the server's error position, else by a rolled-back re-run."""
        base = fx.failure(error)
        sql, statements = envelope.body, list(envelope.statements)
        at = fx.position(error)
        if at is not None:
            offset = at - 1 - body_at
            found = statement_at(statements, offset) if 0 <= offset < len(sql) else None
            if found is not None:
                return fx.with_statement(base, found, "position", line_of(sql, offset))
        if base.sqlstate in fx.NO_RELOCATE or not statements:
            return base
        found = self._rerun_to_find(statements, envelope, outer=outer)
        return fx.with_statement(base, found, "re-run") if found is not None else base

    def _rerun_to_find(
        self, statements: list[Statement], envelope: Envelope, *, outer: str
    ) -> Statement | None:
        begin, undo = "BEGIN;", "ROLLBACK;"
        if outer == "savepoint":
            begin, undo = (
                "SAVEPOINT supamigrate_locate;",
                "ROLLBACK TO SAVEPOINT supamigrate_locate;",
            )
        self._run(begin + self.limits.sql("LOCAL"))
        try:
            for statement in statements:
                if self._run(statement.text) is not None:
                    return statement
            if self._run(envelope.record) is not None:
                return Statement(
                    "(the history insert into supabase_migrations.schema_migrations)", 0, 0
                )
            return None
        finally:
            self._run(undo)
            self._conn.notices.clear()


def _end_failure(error: Any, ran: list[str]) -> Failure:
    """After every statement of a no-transaction file ran: the state check or the history
    insert failed; say which, and that what ran stays applied."""
    base = fx.failure(error)
    if is_state_error(base.message):
        message = (
            f"the file left {state_problem(base.message)}: a no-transaction file must end with "
            "no transaction open and the session as it found it (what its open transaction did "
            "was rolled back; statements committed before it stay)"
        )
        base = Failure(base.sqlstate, message)
    return Failure(**{**base.__dict__, "ran": tuple(ran)})
