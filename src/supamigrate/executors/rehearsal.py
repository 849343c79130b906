"""`--rehearse` on psycopg2: every pending file in one transaction that is always rolled back.

Each file runs under a savepoint, statement by statement as Postgres's parser reads it, traced
(trace.py: locks, rewrites, time). A rehearsal can never commit: a deferred trigger fails any
COMMIT of its transaction, and after each statement we check that the transaction is still
ours (not ended, not replaced by ROLLBACK/COMMIT AND CHAIN), so nothing runs outside it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Protocol

from supamigrate.envelope import Envelope, Limits, wrap
from supamigrate.errors import UsageError
from supamigrate.executors import failures as fx
from supamigrate.executors.base import Failure, Outcome, Result
from supamigrate.files import MigrationFile
from supamigrate.history import ADVISORY_LOCK_KEY, CREATE_TABLE
from supamigrate.reading import read_sql
from supamigrate.sqlsplit import Statement
from supamigrate.trace import trace_statements

GUARD = """
CREATE FUNCTION pg_temp.supamigrate_never_commit() RETURNS trigger LANGUAGE plpgsql AS
$$BEGIN RAISE EXCEPTION 'supamigrate: a rehearsal never commits'; END$$;
CREATE TEMP TABLE supamigrate_rehearsal_guard (x int) ON COMMIT DROP;
CREATE CONSTRAINT TRIGGER supamigrate_never_commit AFTER INSERT ON supamigrate_rehearsal_guard
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION pg_temp.supamigrate_never_commit();
INSERT INTO supamigrate_rehearsal_guard VALUES (1);
"""


class Session(Protocol):
    """What a rehearsal needs of the executor's connection."""

    limits: Limits

    def _run(self, sql: str) -> Any: ...

    def _query(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]: ...

    def _result(
        self,
        migration: MigrationFile,
        outcome: Outcome,
        started: float,
        failure: Failure | None = None,
    ) -> Result: ...

    def in_transaction(self) -> bool: ...


class Rehearsal:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.began = ""

    def run(self, todo: Sequence[MigrationFile]) -> list[Result]:
        """Proof the files work on this target; nothing kept, the history table included."""
        session, results = self.session, []
        lock = f"SELECT pg_advisory_xact_lock({ADVISORY_LOCK_KEY});"
        error = session._run(f"BEGIN;\nRESET ALL;\n{lock}\n{CREATE_TABLE}{GUARD}")
        if error is not None:
            session._run("ROLLBACK;")
            raise fx.history_error("create", error)
        self.began = self._now()
        try:
            for migration in todo:
                result = self._one(wrap(migration, session.limits, rerun=True))
                results.append(result)
                if result.stops_run:
                    break
        finally:
            session._run("ROLLBACK;")
        return results

    def _one(self, envelope: Envelope) -> Result:
        """One file under a savepoint, traced statement by statement; then its history row."""
        session = self.session
        started, migration = time.perf_counter(), envelope.migration
        session._run("SAVEPOINT supamigrate_rehearsal;\n" + session.limits.sql("LOCAL"))
        steps = [(st.line, st.text) for st in read_sql(migration.sql).statements]
        trace, error = trace_statements(steps, self._step, session._query)
        if error is None:
            error = self._step(envelope.record)
        if error is None:
            session._run("RELEASE SAVEPOINT supamigrate_rehearsal;")
            return replace(session._result(migration, Outcome.OK, started), trace=trace)
        session._run("ROLLBACK TO SAVEPOINT supamigrate_rehearsal;")
        failure = fx.failure(error)
        if trace.statements and trace.statements[-1].error:
            last = trace.statements[-1]
            failure = fx.with_statement(failure, Statement(last.text, 0, last.line), "statement")
        return replace(session._result(migration, Outcome.FAILED, started, failure), trace=trace)

    def _step(self, sql: str) -> Any:
        """Run inside the rehearsal's transaction; one that ended or replaced it stops all."""
        error = self.session._run(sql)
        if error is not None:
            return error
        if not self.session.in_transaction() or self._now() != self.began:
            self.session._run("ROLLBACK;")
            raise UsageError(
                "A statement ended the rehearsal's transaction; the rehearsal stopped there and "
                "everything it ran was rolled back. Remove transaction control from the file."
            )
        return None

    def _now(self) -> str:
        """The transaction's start time: it changes only if a file started another one."""
        return str(self.session._query("SELECT now()::text", ())[0][0])
