"""Reading each file to apply before anything runs (preflight.check_files): Postgres's own
parser on the whole file. Its own module: a run with nothing to apply never imports it, nor
the parser's wrappers (~5 ms of imports on every run)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NoReturn

from supamigrate.brief import one_line
from supamigrate.errors import UsageError
from supamigrate.process.quiet_gc import no_collector_passes
from supamigrate.project.files import MigrationFile
from supamigrate.sql.reading import (
    Reading,
    SyntaxProblem,
    copies_through_client,
    has_no_transaction_marker,
    no_transaction_only,
    prepares_transaction,
    psql_meta_command,
    read_sql,
    transaction_control,
)
from supamigrate.sql.settings_check import mentions_reading_settings, unsafe_setting
from supamigrate.sql.skim import needs_whole_reading, top_level_statements
from supamigrate.sql.sqlsplit import as_sent, has_sql, split_statements

# Characters from which pre-flight parses in a thread while this one splits (see
# _statements_alongside_split): below, starting the thread costs more than it saves.
_ALONGSIDE = 1_000_000


def check_files(migrations: Sequence[MigrationFile]) -> None:
    """Read each file with Postgres's own parser (pglast), the whole file, and refuse before
    anything runs: NUL bytes, empty files, syntax errors, psql meta-commands, transaction
    control in a transactional file, and statements that cannot run in one without the marker."""
    with no_collector_passes():  # each reading holds a parse tree: see quiet_gc
        for migration in migrations:
            _check_file(migration)


def _check_file(migration: MigrationFile) -> None:
    """check_files for one file."""
    _check_bytes(migration)
    name, sql = migration.path.name, as_sent(migration.sql)  # as the server will read it
    no_transaction = has_no_transaction_marker(sql)
    statements = _statements_alongside_split(sql, migration.sql)
    if isinstance(statements, SyntaxProblem):
        _refuse_unparsable(name, sql, statements)
    if not needs_whole_reading(statements, no_transaction=no_transaction):
        _check_text(name, sql, no_transaction=no_transaction)
        return
    reading = read_sql(sql)
    if reading.error is not None:  # the split parsed, the tree could not be built (too deep)
        _refuse_unparsable(name, sql, reading.error)
    _check_session_changes(name, sql, reading)
    if not reading.no_transaction:
        _check_transactional(name, reading)


def _refuse_unparsable(name: str, sql: str, problem: SyntaxProblem) -> NoReturn:
    # A file that parses has no psql command (the server's lexer takes no backslash outside
    # a quoted token): only a broken one is searched for one, which then explains the error.
    meta = psql_meta_command(sql)
    if meta is not None:
        raise UsageError(
            f"{name}, line {meta.line}: `{meta.text}` is a psql command, which only psql "
            "would run (and not alike on every method): write it as SQL or remove it."
        )
    raise UsageError(
        f"{name}, line {problem.line}: syntax error ({problem.message}): "
        "fix the SQL. Nothing was applied."
    )


def _statements_alongside_split(sql: str, original: str) -> Sequence[str] | SyntaxProblem:
    """Postgres's cut of the file (skim). For a big file, this thread meanwhile does the
    CLI-compatible split of the `original` text the run needs next anyway (it is cached):
    pglast releases the GIL while it parses, so the two use both cores."""
    if len(sql) < _ALONGSIDE:
        return top_level_statements(sql)
    from concurrent.futures import ThreadPoolExecutor  # only for big files: import costs ~5 ms

    with ThreadPoolExecutor(max_workers=1) as pool:
        statements = pool.submit(top_level_statements, sql)
        split_statements(original)
        return statements.result()


def _check_bytes(migration: MigrationFile) -> None:
    sql, name = migration.sql, migration.path.name
    if "\x00" in sql:
        line = sql.count("\n", 0, sql.index("\x00")) + 1
        raise UsageError(
            f"{name}, line {line}: a NUL byte, which Postgres text cannot hold: remove it "
            "(the file may be binary or saved as UTF-16). Nothing was applied."
        )
    if not has_sql(sql):
        raise UsageError(
            f"{name} has no SQL statements (empty or only comments): write the migration, or "
            "delete the file. Nothing was applied; applying it would record it, and your later "
            "edits would count as drift."
        )


def _check_session_changes(name: str, sql: str, reading: Reading) -> None:
    """What would make the server (or psql) read the rest differently from the parser we
    checked with, feed the script to a statement, or break the runner's lock."""
    _check_text(name, sql, no_transaction=reading.no_transaction, reading=reading)
    if reading.no_transaction:
        prepared = prepares_transaction(reading)
        if prepared is not None:
            raise UsageError(
                f"{name}, line {prepared.line}: PREPARE TRANSACTION would leave the file's work "
                "in a prepared transaction, holding its locks after the migration is recorded: "
                "remove it (and its BEGIN). Nothing was applied."
            )
    for statement in reading.statements:
        if copies_through_client(statement):
            raise UsageError(
                f"{name}, line {statement.line}: COPY ... FROM STDIN / TO STDOUT needs a client "
                "that streams data, which a migration has not: use INSERT ... VALUES or "
                "INSERT ... SELECT. Nothing was applied."
            )


def _check_text(
    name: str, sql: str, *, no_transaction: bool, reading: Reading | None = None
) -> None:
    """The refusals told from the text alone: a setting that changes how SQL is read, and
    (in a no-transaction file) releasing advisory locks."""
    lowered = sql.lower()
    if mentions_reading_settings(sql):
        found = unsafe_setting(reading or read_sql(sql))
        if found is not None:
            raise UsageError(
                f"{name}, line {found.line}: `{one_line(found.text, limit=80)}` can change how "
                "the rest of the SQL is read or sent (only standard_conforming_strings = on and "
                "client_encoding = 'UTF8', the values every method already uses, are allowed; "
                "a backslash could otherwise hide a COMMIT, or text be stored garbled): remove "
                "it. Nothing was applied."
            )
    if no_transaction and "advisory_unlock" in lowered:
        line = sql[: lowered.index("advisory_unlock")].count("\n") + 1
        raise UsageError(
            f"{name}, line {line}: a no-transaction file must not release advisory locks: "
            "pg_advisory_unlock* would release supamigrate's runner lock, and another runner "
            "could apply the file at the same time. Nothing was applied."
        )


def _check_transactional(name: str, reading: Reading) -> None:
    found = transaction_control(reading)
    if found is not None:
        raise UsageError(
            f"{name}, line {found.line}: `{found.text}` controls the transaction, but "
            "supamigrate runs each file in its own transaction. Remove it, or put "
            "`-- supamigrate:no-transaction` on the first line to run the file without one."
        )
    outside = no_transaction_only(reading)
    if outside:
        raise UsageError(
            f"{name}, line {outside[0].line}: `{outside[0].text}` cannot run inside a "
            "transaction: put `-- supamigrate:no-transaction` on the file's first line (and "
            "write the file so it can be run again)."
        )
