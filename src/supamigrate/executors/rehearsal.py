"""`--rehearse` on psycopg2: every pending file in one transaction that is always rolled back,
with the real run's boundaries, so its verdict predicts the real run's.

Each file runs under its own savepoint, as the envelope runs it: a clean session first (the
envelope's own, with everything DISCARD TEMP would drop dropped by name: rehearsal_session.py;
nothing one file sets reaches the next), the configured timeouts, its statements one by one as
Postgres's parser reads them, traced (trace.py), its history row, then its deferred constraints
checked as its COMMIT would check them (deferred.py). Per file the verdict is ok, failed
(SQLSTATE, line), or not rehearsed from here: where only a commit could tell (a no-transaction
file, an enum value a later file uses, a key holding now(), which is one value for the whole
rehearsal), where the file calls what no rollback undoes (setval, a replication slot, dblink:
rehearsal_outlives.py, checked before the file runs, so it never runs), and where the
rehearsal's own bound on how long it may hold a lock that keeps the app waiting stopped a
statement (a finding, not a failure). The files after a file that was not rehearsed, or that
failed, are not rehearsed either (and are listed so): they may depend on it, and the real run
stops at a failure.

A rehearsal can never commit: a deferred trigger fails any COMMIT of its transaction, and
after each statement we check that the transaction is still ours (not ended, not replaced by
ROLLBACK/COMMIT AND CHAIN), so nothing runs outside it. Before and after, the catalog, the
sequences and what lives outside any transaction (replication slots, ...) are fingerprinted
(fingerprint.py): "nothing was changed" is checked, not assumed.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from typing import Any, Protocol

from supamigrate.errors import UsageError
from supamigrate.executors import boundary_guard, deferred
from supamigrate.executors import failures as fx
from supamigrate.executors import fingerprint as fp
from supamigrate.executors import rehearsal_session as between
from supamigrate.executors.batch import Notices
from supamigrate.executors.boundary_guard import ours
from supamigrate.executors.envelope import Limits, runner_session
from supamigrate.executors.rehearsal_limits import Bound, duration_ms, stopped_at_bound
from supamigrate.executors.rehearsal_outlives import Outliving
from supamigrate.executors.results import Failure, Outcome, Result
from supamigrate.executors.rls_before import NOTE_SQL, notes_rls
from supamigrate.executors.trace import MigrationTrace, Tracer
from supamigrate.executors.trace_needs import BLOCKS_APP
from supamigrate.history.table import ADVISORY_LOCK_KEY, BEGIN, CREATE_TABLE, record_sql
from supamigrate.project.files import MigrationFile
from supamigrate.sql.reading import Statement, line_of, read_sql
from supamigrate.sql.sqlsplit import is_no_transaction, statements_text

SAVEPOINT = "supamigrate_rehearsal"
# Our own catalog queries: never cut short by the file's bound, never waiting forever.
_OWN = "SET LOCAL statement_timeout = '60s'; SET LOCAL lock_timeout = '10s';\n"
_TIMEOUTS = "select current_setting('statement_timeout'), current_setting('lock_timeout')"
_ENUM_VALUE = re.compile(r'"((?:[^"]|"")*)"')


class Session(Protocol):
    """What a rehearsal needs of the executor's connection."""

    limits: Limits
    _notices: Notices
    guard_from: str | None  # boundary_guard: from which version the real run guards

    def _run(self, sql: str) -> Any: ...

    def _query(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]: ...

    def in_transaction(self) -> bool: ...


class Rehearsed(list[Result]):
    """The results, and what the fingerprint found changed outside the rolled-back transaction
    (None: it could not be checked)."""

    changed_outside: list[str] | None = None


class Rehearsal:
    def __init__(self, session: Session, bound: str = "2s") -> None:
        self.session = session
        self.bound = Bound(duration_ms(bound))
        self.began = ""
        self.added_values: dict[str, str] = {}  # enum value -> the file that added it
        self.made_types: set[str] = set()  # enum types made by earlier files
        self.file_types: set[str] = set()  # ... and by this one
        self.file_values: dict[str, str] = {}  # enum values this file added
        self.enum_stop = ""  # why the rest of this file cannot be told from a rehearsal
        self.all_set = False  # a file said SET CONSTRAINTS ALL: it stays in force here
        self.known: set[int] = set()  # deferrable constraints already in their declared mode
        self.outliving = Outliving(self._ask)
        self.rehearsed = 0  # files run so far (the clock is shared from the second on)
        self.mark = ""  # this file's subtransaction id, where the boundary guard runs
        self.declares = False  # this file declares a cursor (WITH HOLD ones outlive COMMIT)
        self.ran_file = False  # a file's statement ran since the rehearsal's last own query

    def run(self, todo: Sequence[MigrationFile]) -> Rehearsed:
        """Proof the files work on this target; nothing kept, the history table included."""
        session, results = self.session, Rehearsed()
        before = fp.take(session._query)
        lock = f"SELECT pg_advisory_xact_lock({ADVISORY_LOCK_KEY});"
        quiet = f"SET LOCAL client_min_messages = warning;\n{CREATE_TABLE}"
        error = session._run(f"{BEGIN}RESET ALL;\n{lock}\n{quiet}{deferred.GUARD}")
        session._notices.clear()  # the runner's setup is not the migration's to report
        if error is not None:
            session._run("ROLLBACK;")
            raise fx.history_error("create", error)
        self.began = self._now()
        stopped: str = ""
        try:
            for migration in todo:
                if stopped:
                    results.append(between.not_rehearsed(migration, stopped, 0.0))
                    continue
                if is_no_transaction(migration.sql):
                    stopped = f"{migration.label} runs outside a transaction"
                    why = "it runs outside a transaction: each statement commits on its own"
                    results.append(between.not_rehearsed(migration, why, 0.0))
                    continue
                reading = read_sql(migration.sql)
                if reading.error is not None:
                    # The server parses the whole message before running any of it: the real
                    # run fails there with nothing run (migrate refuses such a file before).
                    results.append(between.unparsable(migration, reading.error))
                    stopped = f"{migration.label} failed, and the real run stops there"
                    continue
                statements = reading.statements
                outlives = self.outliving.first(statements)
                if outlives:
                    stopped = f"{migration.label} was not rehearsed"
                    why = f"{outlives}: a rehearsal does not run it on the target"
                    results.append(between.not_rehearsed(migration, why, 0.0))
                    continue
                try:
                    result = self._one(migration, statements)
                except between.Shadowed as shadowed:
                    result = between.not_rehearsed(migration, str(shadowed), 0.0)
                results.append(result)
                if result.outcome is Outcome.NOT_REHEARSED:
                    stopped = f"{migration.label} was not rehearsed"
                elif result.stops_run:  # the real run stops there: the rest is accounted for
                    stopped = f"{migration.label} failed, and the real run stops there"
        finally:
            # Session advisory locks outlive a ROLLBACK: release them, as the envelope does.
            session._run("ROLLBACK;\nSELECT pg_advisory_unlock_all();")
            session._notices.clear()
        results.changed_outside = fp.changes(before, fp.take(session._query), session._query)
        return results

    # --- one file ------------------------------------------------------------------------

    def _one(self, migration: MigrationFile, statements: Sequence[Statement]) -> Result:
        started, session = time.perf_counter(), self.session
        self.bound.new_file(self.session.limits)
        self.rehearsed += 1
        self._setup(f"SAVEPOINT {SAVEPOINT};\n{between.CLEAN}")
        drops = "".join(str(row[0]) for row in self._ask(between.TEMP_DROPS))
        self._setup(drops + self.session.limits.sql("LOCAL"))
        session._notices.clear()
        left = self._ask(between.TEMP_LEFT)
        if left:
            self.session._run(f"ROLLBACK TO SAVEPOINT {SAVEPOINT};")
            why = (
                f"an earlier file left {left[0][0]} in pg_temp: the real run's DISCARD TEMP "
                "drops it, and a rehearsal does not"
            )
            return between.not_rehearsed(migration, why, 0.0)
        self.mark = ""
        if boundary_guard.guarded(self.session.guard_from, migration.version):
            # An xid for this file's subtransaction: what the guard bounds is what came after.
            (row,) = self._ask(f"INSERT INTO pg_temp.{between.GUARD} VALUES (1) RETURNING xmin")
            self.mark = str(row[0])
        if notes_rls(migration.name):  # as the real run's envelope does before 004
            self._setup(NOTE_SQL)
        tracer, file_all, made = Tracer(self._ask), False, self._constraints()
        self.known = {oid for _, _, oids in made for oid in oids}
        self.file_types, self.file_values = set(), {}
        self.enum_stop = ""
        self.declares = any(s.kind == "DeclareCursorStmt" for s in statements)
        for statement in statements:
            stop = self.bound.exhausted() or self.enum_stop
            if stop:
                return self._stop(migration, started, tracer, statement, stop)
            setting = statement.kind == "ConstraintsSetStmt"
            tracer.before()
            prefix, text = self.bound.prefix() + (deferred.LET_PASS if setting else ""), ""
            if between.discards_temp(statement):  # by name, the guard left (as between files)
                prefix += "".join(str(r[0]) for r in self._ask(between.TEMP_DROPS)) or "SELECT;"
            else:
                text = statement.text
            error = self._step(prefix + text, own=False)
            self.ran_file = True  # the next own query first looks for catalog names in pg_temp
            notices = self._notices()
            if error is not None:
                tracer.failed(statement, str(error), notices)
                return self._failed(migration, started, tracer, statement, error, len(prefix))
            if statement.kind == "VariableSetStmt":
                self.bound.file_set(statement.node, self._current_timeouts())
            if setting:
                self._setup(deferred.REARM)
                file_all = file_all or "constraints" not in statement.node
            traced = tracer.after(statement, notices)
            if any(lk.mode in BLOCKS_APP and lk.taken_here and lk.created_at is None
                   for lk in traced.locks):  # fmt: skip
                self.bound.holding(traced.locks)
            if self.all_set and not file_all:
                self._declared_modes()
            self._learn(migration, statement)
        self.all_set = self.all_set or file_all
        self.made_types |= self.file_types
        self.added_values |= self.file_values
        return self._commit(migration, started, tracer)

    def _commit(self, migration: MigrationFile, started: float, tracer: Tracer) -> Result:
        """Its history row, then what its COMMIT would check; keep it for the next file."""
        record = record_sql(
            migration.version, migration.name, statements_text(migration.sql), replace=True
        )
        # The real run's tenant boundary on the tables this file gave tenant_id (boundary_guard)
        bounds = boundary_guard.since_mark(self.mark) if self.mark else ""
        reset = runner_session(self.session.limits)  # as the real run's envelope
        error = self._step(f"{reset}{bounds}{record}\n", own=True)
        said = self._notices()  # the guard's, shown under the file as the real run shows them
        where = "(the history insert into supabase_migrations.schema_migrations)"
        if error is None:
            rows = [(name, bool(d)) for name, d, _ in self._constraints()]
            held = self._ask(between.HELD_CURSORS) if self.declares else []
            moves = "".join(str(row[0]) for row in held)  # as COMMIT runs them, after the checks
            error = self._step(self.bound.prefix() + deferred.check_sql(rows) + moves, own=False)
            where = "COMMIT"
            if error is None:
                self._setup(deferred.restore_sql(rows) + f"RELEASE SAVEPOINT {SAVEPOINT};")
                return self._result(migration, Outcome.OK, started, tracer.finish(), said=said)
        self.session._run(f"ROLLBACK TO SAVEPOINT {SAVEPOINT};")
        failure = fx.failure(error)
        reason = stopped_at_bound(failure.sqlstate, self.bound, "the check of deferred constraints")
        if reason and where == "COMMIT":
            return self._result(migration, Outcome.NOT_REHEARSED, started, tracer.finish(reason))
        failure = failure._replace(statement="", located_by=where)
        return self._result(migration, Outcome.FAILED, started, tracer.finish(), failure)

    def _failed(
        self,
        migration: MigrationFile,
        started: float,
        tracer: Tracer,
        statement: Statement,
        error: Any,
        prefix: int,
    ) -> Result:
        """A statement failed: a failure, or where only a commit or the bound is to blame,
        not rehearsed from here."""
        self.session._run(f"ROLLBACK TO SAVEPOINT {SAVEPOINT};")
        failure = fx.failure(error)
        reason = self._only_a_commit(failure)
        clock = self.rehearsed > 1 and between.clock_key(error, self.session._run, self._ask)
        if clock:
            reason = between.clock_reason(clock)
        if reason is None:
            reason = stopped_at_bound(failure.sqlstate, self.bound, "", statement, self._ask)
        if reason:
            why = f"line {statement.line}: {reason}"
            return self._result(migration, Outcome.NOT_REHEARSED, started, tracer.finish(why))
        at = fx.position(error)
        line = statement.line
        if at is not None and 0 <= at - 1 - prefix < len(statement.text):
            line = line_of(migration.sql, statement.start + at - 1 - prefix)
        located = failure._replace(statement=statement.text, line=line)
        located = located._replace(located_by="statement")
        return self._result(migration, Outcome.FAILED, started, tracer.finish(), located)

    def _stop(
        self,
        migration: MigrationFile,
        started: float,
        tracer: Tracer,
        statement: Statement,
        reason: str,
    ) -> Result:
        self.session._run(f"ROLLBACK TO SAVEPOINT {SAVEPOINT};")
        why = f"line {statement.line}: {reason}"
        return self._result(migration, Outcome.NOT_REHEARSED, started, tracer.finish(why))

    def _only_a_commit(self, failure: Failure) -> str | None:
        """55P04 on a value an earlier file added: the real run commits that file first."""
        if failure.sqlstate != "55P04":
            return None
        named = _ENUM_VALUE.search(failure.message)
        value = named.group(1).replace('""', '"') if named else None
        by = self.added_values.get(value) if value is not None else None
        if by is None and value is not None and self._added_earlier(value):
            by = "an earlier file"  # by SQL the parser cannot see (a DO block, a function)
        if by is None and (value is not None or not self.added_values):
            return None
        return (
            f"it uses an enum value {by or 'an earlier file'} added; Postgres lets a new enum "
            "value be used only after the transaction that added it commits, and a rehearsal "
            "commits nothing (the real run commits each file, so this can work there)"
        )

    def _added_earlier(self, value: str) -> bool:
        """After this file was rolled back to its savepoint: an enum value of that label that
        this rehearsal's transaction added is an earlier file's."""
        sql = f"select exists (select 1 from pg_enum e where e.enumlabel = %s and {ours('e.xmin')})"
        return self._ask(sql, (value,)) == [(True,)]

    def _learn(self, migration: MigrationFile, statement: Statement) -> None:
        """Enum values and types this file adds: later files may use them only after commit."""
        node = statement.node
        if statement.kind == "CreateEnumStmt":
            self.file_types.add(between.type_name(node.get("typeName", [])))
        if statement.kind == "AlterEnumStmt" and node.get("newVal") and not node.get("oldVal"):
            self.file_values[str(node["newVal"])] = migration.label
            name = between.type_name(node.get("typeName", []))
            if name in self.made_types:
                # The real run committed that type: using the value before this file commits
                # fails there (55P04); here the type is new in the same transaction, and
                # Postgres allows it. Only a commit could tell what follows.
                self.enum_stop = (
                    f"line {statement.line} added a value to enum type {name}, which an earlier "
                    "file made: only a commit could tell whether what follows may use it"
                )

    def _declared_modes(self) -> None:
        """After `SET CONSTRAINTS ALL` in an earlier file: constraints made since get their
        declared mode, as they would in the real run's fresh transaction."""
        rows = self._constraints()
        fresh = [(name, bool(d)) for name, d, oids in rows if not set(oids) <= self.known]
        for _, _, oids in rows:
            self.known |= set(oids)
        immediate = [name for name, d in fresh if not d]
        sql = f"SET CONSTRAINTS {', '.join(immediate)} IMMEDIATE;\n" if immediate else ""
        self._setup(sql + deferred.restore_sql(fresh))

    # --- pieces ----------------------------------------------------------------------------

    def _constraints(self) -> list[tuple[str, bool, list[int]]]:
        rows = self._ask(deferred.DEFERRABLE)
        return [(str(name), bool(d), [int(o) for o in oids]) for name, d, oids in rows]

    def _current_timeouts(self) -> tuple[str, str]:
        (row,) = self.session._query(_TIMEOUTS, ())
        return str(row[0]), str(row[1])

    def _ask(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return self._checked(_OWN + sql, params)

    def _checked(self, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        try:
            check, self.ran_file = (between.SHADOWS if self.ran_file else ""), False
            return self.session._query(check + sql, params)
        except Exception as exc:  # the session's driver error
            if not between.shadowed(str(exc)):
                raise
            self.session._run(f"ROLLBACK TO SAVEPOINT {SAVEPOINT};")
            raise between.Shadowed(between.shadowed(str(exc))) from None

    def _notices(self) -> tuple[str, ...]:
        from supamigrate.connect.masking import mask

        found = tuple(mask(n.strip()) for n in self.session._notices.loose)
        self.session._notices.clear()
        return found

    def _result(
        self,
        migration: MigrationFile,
        outcome: Outcome,
        started: float,
        trace: MigrationTrace,
        failure: Failure | None = None,
        said: tuple[str, ...] = (),
    ) -> Result:
        ms = (time.perf_counter() - started) * 1000
        notices = tuple(n for s in trace.statements for n in s.notices) + said
        return Result(migration, outcome, ms, failure, notices, trace)

    def _setup(self, sql: str) -> None:
        """One of the rehearsal's own steps, which must work."""
        error = self._step(sql, own=True)
        if error is not None:
            self.session._run("ROLLBACK;")
            raise UsageError(f"The rehearsal could not prepare a file: {fx.failure(error).message}")

    def _step(self, sql: str, own: bool) -> Any:
        """Run inside the rehearsal's transaction; one that ended or replaced it stops all."""
        error = self.session._run((_OWN if own else "") + sql)
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
        return str(self._checked("SELECT pg_catalog.now()::pg_catalog.text", ())[0][0])
