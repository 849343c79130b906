"""The per-migration envelope: what wraps every migration, defined once, rendered per path.

A transactional file (psycopg2 sends it as ONE message, psql as one script block, manual as
one block to paste):

    BEGIN ISOLATION LEVEL READ COMMITTED;                 whatever the database's default
    RESET ALL; RESET SESSION AUTHORIZATION; RESET ROLE;   a clean session
    SET LOCAL lock_timeout = 0; SET LOCAL statement_timeout = 0;
    SELECT pg_advisory_xact_lock(<key>);                   waiting is never cut by a role default
    <re-check: the version is not in history yet>          rendered per path
    SET LOCAL lock_timeout/statement_timeout; liveness     the configured limits, for the file
    <004 only: which tables had RLS on before it>          rls_before
    <the file>
    ;
    RESET SESSION AUTHORIZATION; RESET ROLE; RESET ALL;    the runner's own statements run
    SET LOCAL search_path, lock/statement_timeout          the same whatever the file set
    <the tenant boundary on new tenant tables>             boundary_guard: where 005 ran
    INSERT INTO supabase_migrations.schema_migrations ...;
    COMMIT;

A `-- supamigrate:no-transaction` file runs the same steps at session level with a session
advisory lock, its statements outside any transaction, then a state check (no transaction left
open, role unchanged, no session setting left behind) before its history row, then unlocks.

The re-check is the only part rendered differently: psycopg2 and manual raise a marked error
(`history.recheck_sql`), psql branches with `\\gset` and `\\if`. Everything else is plain SQL.
"""

from __future__ import annotations

from typing import NamedTuple

from supamigrate.executors.boundary_guard import GUARD_SQL
from supamigrate.executors.rls_before import NOTE_SQL, notes_rls
from supamigrate.history.table import (
    ADVISORY_LOCK_KEY,
    BEGIN,
    CREATE_TABLE,
    quote_literal,
    record_sql,
)
from supamigrate.project.files import MigrationFile
from supamigrate.sql.sqlsplit import Statement, as_sent, is_no_transaction, split_statements

# Everything a previous migration can leave in a session: settings, role, temp objects,
# prepared statements, listeners, open cursors, session advisory locks, and the sequences'
# currval/lastval (a file using lastval() from the one before works only when both run in one
# session: not alone, not on a re-run, not through a transaction pooler).
CLEAN_SESSION = (
    "RESET ALL;\nRESET SESSION AUTHORIZATION;\nRESET ROLE;\nDISCARD TEMP;\nDISCARD SEQUENCES;\n"
    "DEALLOCATE ALL;\nUNLISTEN *;\nCLOSE ALL;\nSELECT pg_advisory_unlock_all();\n"
)
STATE_MARK = "supamigrate: session state left behind"
# Settings the envelope itself sets at session level for a no-transaction file.
_OWN_SETTINGS = ("lock_timeout", "statement_timeout", "client_connection_check_interval")


class Limits(NamedTuple):  # not a frozen dataclass: ~0.7 ms less at import, on every run
    """The per-migration limits ('' or '0' disables one)."""

    lock_timeout: str = "5s"
    statement_timeout: str = ""

    def sql(self, scope: str) -> str:
        """SET [LOCAL] both timeouts, and the liveness check where the server has it (PG 14+):
        a vanished client is noticed within a second and its migration rolled back."""
        local = "true" if scope == "LOCAL" else "false"
        return (
            f"SET {scope} lock_timeout = {quote_literal(self.lock_timeout or '0')};\n"
            f"SET {scope} statement_timeout = {quote_literal(self.statement_timeout or '0')};\n"
            f"SELECT set_config('client_connection_check_interval', '1s', {local}) "
            "WHERE current_setting('server_version_num')::int >= 140000;\n"
        )


ACTIVITY_BYTES = 1024  # track_activity_query_size's default: what pg_stat_activity shows


def activity_header(envelope: Envelope) -> str:
    """A comment that opens a message: the migration's name and the start of its SQL.
    pg_stat_activity shows only a message's first 1 KB, and the envelope's own statements
    (clean session, marker, lock, re-check) fill most of it: without this, whoever looks at a
    long migration from another session sees the runner's bookkeeping, not what runs.
    Nested and closing comment marks in the file's text are broken, so the comment ends here."""
    room = ACTIVITY_BYTES // 2
    text = envelope.body[:room].replace("/*", "/ *").replace("*/", "* /")
    more = "\n..." if len(envelope.body) > room else ""
    migration = envelope.migration
    return f"/* supamigrate: {migration.version} {migration.name}\n{text}{more}\n*/\n"


# Quietly: "schema ... already exists, skipping" is no notice of the migration's.
TABLE_QUIETLY = (
    f"SET client_min_messages = warning;\n{CREATE_TABLE.lstrip()}RESET client_min_messages;\n"
)


def _named(migration: MigrationFile) -> str:
    """application_name in a migration's transaction: pg_stat_activity shows which one runs
    (a message's text shows only its first 1 KB); COMMIT puts it back. Inside one message the
    server reports no change to the client (Postgres 14+ reports at the message's end, when
    it is back). A no-transaction file runs a statement per message: its text shows there."""
    version = migration.version
    if not (version.isascii() and version.isdigit()):  # it goes into a literal: digits only
        version = ""
    return f"SET LOCAL application_name = 'supamigrate {version}';\n"


def runner_session(limits: Limits) -> str:
    """What follows a transactional file, before the runner's own statements (the boundary
    guard, the history row): the session as the envelope began it, whatever the file set
    last. A file may end with `SET LOCAL statement_timeout = '1ms'`, `lock_timeout`, `ROLE`,
    `search_path = evil` (or make a temp table named pg_policy: pg_temp is searched first
    unless named), `client_min_messages = error` (the guard's warnings hidden),
    `row_security`, `session_replication_role`, `standard_conforming_strings` (psql lexes each
    statement it sends with the server's setting): each changed what the guard and the
    history insert did, failed them or hid what they said. RESET ALL undoes every setting
    (inside the transaction; the clean session after COMMIT does it again), the search path
    is pinned to the catalog with pg_temp last, and the configured limits apply again.
    What RESET cannot undo, a `SET TRANSACTION READ ONLY`, fails the migration (25006) in
    the real run and the rehearsal alike. The rehearsal runs this same text (promise 3)."""
    return (
        "RESET SESSION AUTHORIZATION;\nRESET ROLE;\nRESET ALL;\n"
        "SET LOCAL search_path = pg_catalog, pg_temp;\n" + limits.sql("LOCAL")
    )


def _unlimited(scope: str) -> str:
    return f"SET {scope} lock_timeout = 0;\nSET {scope} statement_timeout = 0;\n"


# The table made in a transaction that is not a migration's (a rolled-back re-run): under the
# runners' lock, never cut short, like every making of it. Another runner's first migration
# may be making it now: a CREATE timed out waiting for that would abort the transaction.
TABLE_LOCKED = (
    f"{_unlimited('LOCAL')}SELECT pg_advisory_xact_lock({ADVISORY_LOCK_KEY});\n{TABLE_QUIETLY}"
)


def making_table(envelope: Envelope, ready_notice: str) -> Envelope:
    """`envelope` making the history table first, inside its own transaction and lock, then
    raising `ready_notice`: a first run far away saves the round trip of a transaction of its
    own. Should the migration fail, the table goes with it (a first run that applied nothing
    leaves none); without the notice, nothing of the migration ran (the caller then makes the
    table the plain way, which says what stops it)."""
    notice = (
        "SET LOCAL client_min_messages = notice;\n"
        f"DO $supamigrate$BEGIN RAISE NOTICE '{ready_notice}'; END$supamigrate$;\n"
        "RESET client_min_messages;\n"
    )
    return envelope._replace(before_check=envelope.before_check + TABLE_QUIETLY + notice)


class Envelope(NamedTuple):  # not a frozen dataclass: ~0.7 ms less at import, on every run
    """One migration in its envelope, as pieces each path renders in order.

    `version` is None for a deliberate re-run (--migration): nothing to re-check.
    """

    migration: MigrationFile
    transactional: bool
    before_check: str
    version: str | None
    after_check: str
    statements: tuple[Statement, ...]
    record: str  # what follows the file: (state check,) the history row
    close: str  # COMMIT, or for a no-transaction file: unlock and clean the session
    on_skip: str  # what ends the migration when the re-check finds it applied

    @property
    def after_body(self) -> str:
        return self.record + self.close

    @property
    def body(self) -> str:
        """The file's text as the server reads the CLI's pieces (sqlsplit.as_sent)."""
        return as_sent(self.migration.sql)

    def message(self, *, recheck: str | None = None) -> tuple[str, int]:
        """The whole envelope as one SQL text with the error-raising re-check, and the offset
        where the file's text starts in it (to map a server error position to a file line)."""
        check = recheck if recheck is not None else self.recheck_sql()
        head = self.before_check + check + self.after_check
        return head + self.body + "\n;\n" + self.after_body, len(head)

    def recheck_sql(self) -> str:
        from supamigrate.history.table import recheck_sql

        if self.version is None:
            return ""
        return recheck_sql(self.version, [s.text for s in self.statements]) + "\n"


def wrap(
    migration: MigrationFile,
    limits: Limits,
    *,
    rerun: bool,
    ensure_table: bool = False,
    guard: bool = False,
) -> Envelope:
    """The envelope for `migration`; `ensure_table` adds the history table's CREATE (manual),
    `guard` the tenant boundary for new tenant tables before the history row (boundary_guard)."""
    # a no-transaction file's tables are not the guard's transaction's (boundary_guard)
    bounds = GUARD_SQL if guard and not is_no_transaction(migration.sql) else ""
    statements = tuple(split_statements(migration.sql))
    record = record_sql(
        migration.version, migration.name, [s.text for s in statements], replace=rerun
    )
    table = TABLE_QUIETLY if ensure_table else ""
    version = None if rerun else migration.version
    if is_no_transaction(migration.sql):
        teardown = f"SELECT pg_advisory_unlock({ADVISORY_LOCK_KEY});\n{CLEAN_SESSION}"
        return Envelope(
            migration,
            False,
            f"{CLEAN_SESSION}{_unlimited('SESSION')}"
            f"SELECT pg_advisory_lock({ADVISORY_LOCK_KEY});\n{table}",
            version,
            limits.sql("SESSION"),
            statements,
            # the configured limits again: a file's own `SET statement_timeout` (not seen by
            # the state check, which leaves the envelope's own settings out) would cut these
            f"{limits.sql('SESSION')}{state_check_sql()}{record}\n",
            teardown,
            teardown,
        )
    return Envelope(
        migration,
        True,
        f"{BEGIN}{CLEAN_SESSION}{_unlimited('LOCAL')}{_named(migration)}"
        f"SELECT pg_advisory_xact_lock({ADVISORY_LOCK_KEY});\n{table}",
        version,
        limits.sql("LOCAL") + (NOTE_SQL if notes_rls(migration.name) else ""),
        statements,
        f"{runner_session(limits)}{bounds}{record}\n",
        # The clean session again after COMMIT: the next message is read with the session's
        # settings (none a file set may change how it is read), and what a file made at
        # session level (a temp table, a prepared statement, LISTEN, a WITH HOLD cursor, an
        # advisory lock) does not outlive it: through a transaction pooler the server
        # connection goes to the app next.
        f"COMMIT;\n{CLEAN_SESSION}",
        "ROLLBACK;\n",
    )


def state_check_sql() -> str:
    """Fail (SQLSTATE 22P02 with STATE_MARK) when a no-transaction file left anything in the
    session: a transaction open (inside one, now() is its start, earlier than this statement's
    own timestamp), another role, a changed setting, temp objects, prepared statements,
    listeners, open cursors, advisory locks of its own, or the runner's lock released."""
    own = ", ".join(quote_literal(name) for name in _OWN_SETTINGS)
    key = f"({ADVISORY_LOCK_KEY} >> 32, {ADVISORY_LOCK_KEY} & 4294967295)"
    checks = [
        "CASE WHEN now() <> statement_timestamp() THEN 'a transaction open' END",
        "CASE WHEN current_user <> session_user THEN 'role ' || current_user || ' in force' END",
        "(SELECT 'settings changed: ' || string_agg(name, ', ') FROM pg_settings "
        # A setting set to the value it already had changes nothing (a pg_dump header's).
        f"WHERE source = 'session' AND setting IS DISTINCT FROM reset_val AND name NOT IN ({own}))",
        "CASE WHEN EXISTS (SELECT 1 FROM pg_class WHERE relnamespace = pg_my_temp_schema()) "
        "OR EXISTS (SELECT 1 FROM pg_proc WHERE pronamespace = pg_my_temp_schema()) "
        "OR EXISTS (SELECT 1 FROM pg_type WHERE typnamespace = pg_my_temp_schema()) "
        "THEN 'temp objects' END",
        "CASE WHEN EXISTS (SELECT 1 FROM pg_prepared_statements) THEN 'prepared statements' END",
        "CASE WHEN EXISTS (SELECT 1 FROM pg_listening_channels()) THEN 'LISTEN channels' END",
        "CASE WHEN EXISTS (SELECT 1 FROM pg_cursors) THEN 'open cursors' END",
        # Prepared since this session began (pre-flight refuses PREPARE TRANSACTION: a backstop).
        "CASE WHEN EXISTS (SELECT 1 FROM pg_prepared_xacts WHERE database = current_database() "
        "AND owner = session_user AND prepared >= (SELECT backend_start FROM pg_stat_activity "
        "WHERE pid = pg_backend_pid())) THEN 'a prepared transaction' END",
        "CASE WHEN EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' "
        f"AND pid = pg_backend_pid() AND (classid::bigint, objid::bigint) <> {key}) "
        "THEN 'advisory locks of its own' END",
        "CASE WHEN NOT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' "
        f"AND pid = pg_backend_pid() AND (classid::bigint, objid::bigint) = {key}) "
        "THEN 'the runner lock released (another runner may have run it too)' END",
    ]
    left = f"concat_ws('; ', {', '.join(checks)})"
    return (
        f"SELECT ({quote_literal(STATE_MARK + ': ')} || left_behind)::int "
        f"FROM (SELECT {left} AS left_behind) s WHERE left_behind <> '';\n"
    )


def is_state_error(message: str) -> bool:
    return STATE_MARK in message


def state_problem(message: str) -> str:
    """The part of the state-check error that says what was left behind."""
    text = message.split(STATE_MARK + ": ", 1)[-1]
    return text.split('"', 1)[0].strip()
