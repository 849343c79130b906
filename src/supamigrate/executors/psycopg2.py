"""The psycopg2 method: one connection per run, one round trip per batch of migrations.

Each migration is its envelope (envelope.py); consecutive envelopes travel together as ONE
simple-query message (batch.py), so a remote project 20-100 ms away costs one round trip
per batch, not one per migration or statement, while each migration stays its own
transaction. An error aborts the rest of the message; we send ROLLBACK and the database is
as it was before the failing migration, with the ones before it committed. Simple-query
messages carry no server-side prepared statements and nothing outlives a transaction, which
is what Supabase's transaction pooler needs. No-transaction files run statement by statement.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, ClassVar

from supamigrate.executors import failures as fx
from supamigrate.executors.base import Capabilities, OnResult
from supamigrate.executors.batch import (
    MAX_COUNT,
    MESSAGE_BYTES,
    TABLE_READY,
    Batch,
    Sizer,
    can_share,
    prepare,
)
from supamigrate.executors.boundary_guard import guarded
from supamigrate.executors.envelope import (
    CLEAN_SESSION,
    TABLE_LOCKED,
    Envelope,
    activity_header,
    making_table,
    wrap,
)
from supamigrate.executors.psycopg2_history import Psycopg2History
from supamigrate.executors.results import Failure, Outcome, Reported, Result
from supamigrate.history.table import (
    BEGIN,
    TABLE,
    is_already_applied,
    is_other_text,
    other_text_message,
)
from supamigrate.process import interrupt
from supamigrate.project.files import MigrationFile
from supamigrate.sql.sqlsplit import Statement, line_of, statement_at


class Psycopg2Executor(Psycopg2History):
    name: ClassVar[str] = "psycopg2"
    capabilities: ClassVar[Capabilities] = Capabilities(rehearse=True)

    # --- applying --------------------------------------------------------------------------

    def apply(
        self, todo: Sequence[MigrationFile], *, rerun: bool, on_result: OnResult
    ) -> list[Result]:
        results = Reported()
        wrapped: dict[int, Envelope] = {}  # wrapped ahead of use, dropped once it ended

        def envelope(index: int) -> Envelope:
            if index not in wrapped:
                wrapped[index] = wrap(
                    todo[index],
                    self.limits,
                    rerun=rerun,
                    guard=guarded(self.guard_from, todo[index].version),
                )
            return wrapped[index]

        def report(result: Result) -> None:
            wrapped.pop(len(results), None)
            results.add(result)
            on_result(result)

        sizer = Sizer(rtt=self._ahead.seconds)
        while len(results) < len(todo) and not (results and results[-1].stops_run):
            first = envelope(len(results))
            if not first.transactional:
                self._ensure_table()
                done = [self._apply_statements(first)]
            else:
                count = sizer.take()
                if not self._table_ready:
                    count = 1  # alone: its transaction makes the table (_apply_transaction)
                batch = self._next_batch(first, envelope, len(results), len(todo), count)
                # The next message's envelopes (splitting each file) while the server runs
                # this one: on 2 cores the split otherwise leaves the server idle.
                start = len(results) + len(batch)
                ahead = range(start, min(start + MAX_COUNT, len(todo)))
                interrupt.while_waiting(partial(prepare, envelope, ahead))
                try:
                    done = self._apply_batch(batch, sizer, report)
                finally:
                    interrupt.drop_waiting()
            for result in done:
                report(result)
            if interrupt.requested() is not None:
                break
        if self._table_made and not any(r.outcome is Outcome.OK for r in results):
            self._drop_if_unused()
        return results

    def _next_batch(
        self,
        first: Envelope,
        envelope: Callable[[int], Envelope],
        start: int,
        end: int,
        count: int,
    ) -> list[Envelope]:
        """`first` and the transactional files after it that may share its message."""
        batch, size = [first], len(first.body)
        if not can_share(first.body):
            return batch
        for index in range(start + 1, min(start + count, end)):
            candidate = envelope(index)
            size += len(candidate.body)
            too_big = size > MESSAGE_BYTES
            if too_big or not candidate.transactional or not can_share(candidate.body):
                break
            batch.append(candidate)
        return batch

    def _apply_batch(
        self, envelopes: list[Envelope], sizer: Sizer, report: OnResult
    ) -> list[Result]:
        """One message. Each migration is reported as soon as the next marker (or the end)
        arrives, while the message still runs: its COMMIT is done, and a runner killed later
        has said so. Returns the results still to report (see batch.py for how an error and
        each notice are attributed); [] when nothing ran and a smaller message must go first."""
        if len(envelopes) == 1:  # no markers needed: the error and every notice are its own
            result = self._apply_transaction(envelopes[0])
            sizer.done(1)
            return [result]
        batch, live = Batch.render(envelopes, prefix=activity_header(envelopes[0])), []
        self._notices.expect([e.migration.version for e in envelopes])

        def ended(index: int) -> None:
            live.append(self._batch_result(envelopes[index], Outcome.OK))
            report(live[-1])

        self._notices.on_end, started = ended, time.perf_counter()
        try:
            error = self._run(batch.text)
        finally:
            self._notices.on_end = None
        ran = len(self._notices.started) if error is not None else len(envelopes)
        if error is not None:
            self._run("ROLLBACK;")
        sizer.done(ran, self._notices.measured())
        elapsed = (time.perf_counter() - started) * 1000
        if error is None:  # each one's time measured on the server (batch.py's markers)
            return [self._batch_result(e, Outcome.OK) for e in envelopes[len(live) :]]
        if ran == 0:
            return self._nothing_ran(batch, error, sizer)
        ran = self._verified(envelopes, min(max(ran, len(live) + 1), len(envelopes)))
        tail = self._failed(envelopes, ran, live, error, batch.body_at[ran - 1], elapsed)
        if ran - 1 < len(live):  # it was said ok: this corrects it and what was said after it
            tail[-1] = tail[-1]._replace(corrects=len(live) - (ran - 1))
        return tail

    def _failed(
        self,
        envelopes: list[Envelope],
        ran: int,
        live: list[Result],
        error: Any,
        body_at: int,
        elapsed: float,
    ) -> list[Result]:
        """The results after an error: those before the failing one not yet reported, then it."""
        results = [self._batch_result(e, Outcome.OK) for e in envelopes[len(live) : ran - 1]]
        failing = envelopes[ran - 1]
        rest = elapsed - sum(r.ms or 0.0 for r in live + results)  # the message's less theirs
        if self._applied_meanwhile(error, failing.migration.version):
            return [*results, self._batch_result(failing, Outcome.SKIPPED, rest)]
        if is_other_text(str(error)):
            return [*results, self._batch_result(failing, Outcome.FAILED, rest, _other(failing))]
        # Its notices, and those after a forged marker (the re-run clears them: a copy).
        notices = [n for e in envelopes[ran - 1 :] for n in self._notices.of(e.migration.version)]
        failure = self._locate(error, failing, body_at, outer="transaction")
        return [*results, self._batch_result(failing, Outcome.FAILED, rest, failure, notices)]

    def _verified(self, envelopes: list[Envelope], ran: int) -> int:
        """After an error: which migration really failed. A marker is a notice, and a file can
        read this run's nonce (current_query()) and raise the next one's: the history says
        which of those reported or about to be reported committed are. The first missing one
        failed (a correction when it was reported), and nothing after it ran."""
        claimed = [e.migration.version for e in envelopes[: ran - 1]]
        if not claimed or envelopes[0].version is None:  # a re-run's row was there before it
            return ran
        rows = self._query(f"SELECT version FROM {TABLE} WHERE version = ANY(%s)", (claimed,))
        committed = {row[0] for row in rows}
        return next((i + 1 for i, v in enumerate(claimed) if v not in committed), ran)

    def _nothing_ran(self, batch: Batch, error: Any, sizer: Sizer) -> list[Result]:
        """The message did not parse: its error position names the file. The files before it
        are resent without it; the file itself fails, located by that position."""
        index = batch.index_at(fx.position(error))
        if index is None:  # no position: find the file by sending them one at a time
            sizer.cap = 1
            return []
        if index > 0:
            sizer.cap = index
            return []
        first = batch.envelopes[0]
        failure = self._locate(error, first, batch.body_at[0], outer="transaction")
        return [self._batch_result(first, Outcome.FAILED, None, failure, [])]

    def _batch_result(
        self,
        envelope: Envelope,
        outcome: Outcome,
        ms: float | None = None,
        failure: Failure | None = None,
        notices: list[str] | None = None,
    ) -> Result:
        version = envelope.migration.version
        found = self._notices.of(version) if notices is None else notices
        ms = self._notices.ms(version) if ms is None else ms
        return Result(envelope.migration, outcome, ms, failure, fx.shown(found))

    def _apply_transaction(self, envelope: Envelope) -> Result:
        if not self._table_ready:  # a first run: the migration's transaction makes the table
            try:
                result = self._send_transaction(making_table(envelope, TABLE_READY), making=True)
            except _TableNotMade:
                self._ensure_table()  # the plain way, which says what stops it
            else:
                self._table_ready = result.outcome is Outcome.OK  # else it was rolled back too
                return result
        return self._send_transaction(envelope)

    def _send_transaction(self, envelope: Envelope, *, making: bool = False) -> Result:
        self._notices.clear()
        started = time.perf_counter()
        message, body_at = envelope.message()
        header = activity_header(envelope)
        message, body_at = header + message, body_at + len(header)
        error = self._run(message)
        if error is None:
            return self._result(envelope.migration, Outcome.OK, started)
        self._run("ROLLBACK;")
        # Cancelled (a signal to this run, or pg_cancel_backend) while it waited for the lock:
        # a stop, not a table to make the plain way and the file to send again.
        if making and not self._notices.table_ready and fx.sqlstate(error) != "57014":
            self._notices.clear()
            raise _TableNotMade
        if self._applied_meanwhile(error, envelope.migration.version):
            return self._result(envelope.migration, Outcome.SKIPPED, started)
        if is_other_text(str(error)):
            return self._result(envelope.migration, Outcome.FAILED, started, _other(envelope))
        notices = self._notices.loose[:]  # locating re-runs statements, which clears them
        failure = self._locate(error, envelope, body_at, outer="transaction")
        self._notices.loose[:] = notices
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
                if self._applied_meanwhile(error, migration.version):
                    return self._result(migration, Outcome.SKIPPED, started)
                if is_other_text(str(error)):
                    return self._result(migration, Outcome.FAILED, started, _other(envelope))
                return self._result(migration, Outcome.FAILED, started, fx.failure(error))
            self._run(envelope.after_check)
            for statement in envelope.statements:
                error = self._run(statement.text)
                if error is not None:
                    failure = fx.with_statement(fx.failure(error), statement, "statement")
                    outcome, failure = fx.partial(failure, ran)
                    return self._result(migration, outcome, started, failure)
                ran.append(statement.text)
            error = self._run(envelope.after_body)  # state check, history row, unlock
            if error is None:
                return self._result(migration, Outcome.OK, started)
            outcome, failure = fx.partial(fx.end_failure(error), ran)
            return self._result(migration, outcome, started, failure)
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
        """Run them all in one transaction and roll it back (rehearsal.py)."""
        # Imported here: the rehearsal brings the trace and lint, which a plain run never needs
        from supamigrate.executors.rehearsal import Rehearsal

        return Rehearsal(self, self.settings.rehearse_limit).run(todo)

    def _applied_meanwhile(self, error: Any, version: str) -> bool:
        """The re-check said so, and the history holds it: a file raising the same text fails."""
        if not is_already_applied(fx.sqlstate(error), str(error)):
            return False
        gone = f"SELECT to_regclass('{TABLE}') IS NULL"  # made by a failed first migration?
        if not self._table_ready and self._query(gone, ()) == [(True,)]:
            return False
        return bool(self._query(f"SELECT 1 FROM {TABLE} WHERE version = %s", (version,)))

    # --- pieces ----------------------------------------------------------------------------

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
        if base.sqlstate in fx.NO_RELOCATE or not statements or not self._rerun_safe(sql):
            return base  # not run twice: what a rollback cannot undo would be done twice
        found = self._rerun_to_find(statements, envelope, outer=outer, sqlstate=base.sqlstate)
        return fx.with_statement(base, found, "re-run") if found is not None else base

    def _rerun_safe(self, sql: str) -> bool:
        """Running the file again undoes itself entirely (failures.rerun_risk)."""
        risk = fx.rerun_risk(sql)
        if risk is None:
            return False
        if not risk.written:
            return True
        try:
            rows = self._query(fx.DML_TABLES_SQL, (risk.made, risk.written))
        except Exception:  # a question on the failure path: not a re-run
            return False
        return rows == [(False,)]

    def _rerun_to_find(
        self, statements: list[Statement], envelope: Envelope, *, outer: str, sqlstate: str
    ) -> Statement | None:
        """The statement that fails again with the same SQLSTATE, in a rolled-back re-run on
        the target, cut short after RELOCATE_SECONDS (its locks are held again meanwhile);
        None when the re-run cannot tell (another error, or too slow)."""
        begin, undo = BEGIN, "ROLLBACK;"
        if outer == "savepoint":
            begin, undo = (
                "SAVEPOINT supamigrate_locate;",
                "ROLLBACK TO SAVEPOINT supamigrate_locate;",
            )
        # A failed first migration took the history table with it: made again (envelope.py)
        table = "" if self._table_ready else TABLE_LOCKED
        bounded = self.limits._replace(statement_timeout=fx.RELOCATE_TIMEOUT)
        if self._run(begin + table + bounded.sql("LOCAL")) is not None:
            self._run(undo)
            return None  # the re-run could not start: no statement can be named
        deadline = time.perf_counter() + fx.RELOCATE_SECONDS
        try:
            for statement in statements:
                error = self._run(statement.text)
                if error is not None:
                    return statement if fx.sqlstate(error) == sqlstate else None
                if time.perf_counter() > deadline:
                    return None
                if "statement_timeout" in statement.text.lower():  # the file's own: ours again
                    self._run(f"SET LOCAL statement_timeout = '{fx.RELOCATE_TIMEOUT}';")
            if self._run(envelope.record) is not None:
                return Statement(
                    "(the history insert into supabase_migrations.schema_migrations)", 0, 0
                )
            return None
        finally:
            self._run(undo)
            self._notices.clear()


class _TableNotMade(Exception):
    """A first migration's message failed before the history table was made: nothing of the
    migration ran (its statements come after the table's notice)."""


def _other(envelope: Envelope) -> Failure:
    """The in-lock re-check found this version recorded with another text: stop (drift)."""
    return Failure("22P02", other_text_message(envelope.migration.version))
