"""The Supabase CLI's own history table, supabase_migrations.schema_migrations.

Created exactly as the CLI creates it (pkg/migration/history.go): the table with `version`
only, then `statements` and `name` added if missing, so hosted projects' extra columns
(created_by, idempotency_key, rollback) are tolerated and left alone: we only ever write
(version, name, statements).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

try:  # hashlib would also load OpenSSL (3 ms of every start) for one blake2b
    from _blake2 import blake2b
except ImportError:  # pragma: no cover - an interpreter without the module
    from hashlib import blake2b

SCHEMA = "supabase_migrations"
TABLE = f"{SCHEMA}.schema_migrations"
# Serialises every supamigrate runner on a database (any fixed 64-bit key works; this one
# spells "supamigr" in ASCII so it is recognisable in pg_locks).
ADVISORY_LOCK_KEY = 0x73757061_6D696772
# Every transaction that takes that lock, then reads the history: READ COMMITTED whatever the
# database's default_transaction_isolation. Under REPEATABLE READ or SERIALIZABLE the snapshot
# is taken by the statement that waits for the lock, so a second runner's re-check would miss
# the row the first committed meanwhile, and apply the migration again.
BEGIN = "BEGIN ISOLATION LEVEL READ COMMITTED;\n"

CREATE_TABLE = f"""
CREATE SCHEMA IF NOT EXISTS {SCHEMA};
CREATE TABLE IF NOT EXISTS {TABLE} (version text NOT NULL PRIMARY KEY);
ALTER TABLE {TABLE} ADD COLUMN IF NOT EXISTS statements text[];
ALTER TABLE {TABLE} ADD COLUMN IF NOT EXISTS name text;
"""


# After a run whose first migration failed on a database that had no history table: the table
# (and schema) this run created go again, so a refused first run leaves the database as it was.
def drop_if_unused_sql(*, schema: bool) -> str:
    """The table if still empty, and with `schema` (this run made it too) the schema if empty."""
    drop_schema = (
        f"    IF NOT EXISTS (SELECT 1 FROM pg_class WHERE relnamespace = '{SCHEMA}'::regnamespace)"
        f" THEN\n      DROP SCHEMA {SCHEMA};\n    END IF;\n"
        if schema
        else ""
    )
    return (
        f"{BEGIN}SELECT pg_advisory_xact_lock({ADVISORY_LOCK_KEY});\nDO $$BEGIN\n"
        f"  IF to_regclass('{TABLE}') IS NOT NULL AND NOT EXISTS (SELECT 1 FROM {TABLE}) THEN\n"
        f"    DROP TABLE {TABLE};\n{drop_schema}  END IF;\nEND$$;\nCOMMIT;\n"
    )


def drop_if_unused_psql(*, schema: bool) -> str:
    """drop_if_unused_sql as a psql script (\\gset and \\if, no DO block): it works also
    where plpgsql is not the runner's to use."""
    bare = (
        f"SELECT NOT EXISTS (SELECT 1 FROM pg_class WHERE relnamespace = '{SCHEMA}'::regnamespace)"
        f" AS supamigrate_bare \\gset\n\\if :supamigrate_bare\nDROP SCHEMA {SCHEMA};\n\\endif\n"
        if schema
        else ""
    )
    return (
        f"{BEGIN}SELECT pg_advisory_xact_lock({ADVISORY_LOCK_KEY});\n"
        f"SELECT NOT EXISTS (SELECT 1 FROM {TABLE}) AS supamigrate_empty \\gset\n"
        f"\\if :supamigrate_empty\nDROP TABLE {TABLE};\n{bare}\\endif\nCOMMIT;\n"
    )


SELECT_ROWS = f"SELECT version, coalesce(name, ''), statements FROM {TABLE} ORDER BY version"
# The statements joined on the server (one text per row, not an array psycopg2 would turn into
# a list of strings the drift check only joins again), and the md5 of that text, by which
# history_digests remembers each text's digest. An empty text has nothing to compare: NULL.
_JOINED = "nullif(array_to_string(statements, E'\\n'), '')"
# Ordered by an expression, not the primary key's index: the server then sorts, so it computes
# every md5 (~50 ms at 10,000 rows) before sending any row, while the run reads its files and
# the answer waits in the socket (history.read); an index scan would stall on a full socket.
SELECT_SUMS = (
    f"SELECT version, coalesce(name, ''), md5({_JOINED}) FROM {TABLE} ORDER BY version || ''"
)
SELECT_TEXTS = (
    f"SELECT version, coalesce(name, ''), md5({_JOINED}), {_JOINED} "
    f"FROM {TABLE} {{where}} ORDER BY version"
)
# SQLSTATE our re-check raises when another runner applied the version while we waited.


class HistoryRow(NamedTuple):
    """One row of the history. A named tuple, not a frozen dataclass: 10,000 are made on every
    run of a big project, on the reading thread, while the main one reads the files."""

    version: str
    name: str
    statements: tuple[str, ...] | None
    # Instead of the statements: the digest of their normalised text (see `digest`), so a
    # history of 10,000 rows is not held in memory only to be compared once.
    digest: bytes | None = None
    text_md5: str | None = None  # the server's md5 of the joined text (history_digests)
    remembered: bool = False  # the digest came from history_digests, not from the text

    @classmethod
    def joined(
        cls, version: str, name: str, joined: str | None, md5: str | None = None
    ) -> HistoryRow:
        """A row from SELECT_TEXTS: keep the digest; '' or NULL mean nothing to compare."""
        return cls(version, name, None, digest(joined) if joined else None, md5)


SCHEMA_MADE_MARK = "supamigrate: history schema made"


def ensure_table_sql(*, announce: bool = True) -> str:
    """One transaction, under the runner lock so two first runs cannot race on CREATE. A NOTICE
    (SCHEMA_MADE_MARK, shown whatever a role's client_min_messages) says when this transaction
    makes the schema too: only then may a failed first run drop it (drop_if_unused_sql)."""
    lock = f"{BEGIN}SELECT pg_advisory_xact_lock({ADVISORY_LOCK_KEY});\n"
    if not announce:  # where plpgsql may not be used: the caller asks beforehand
        return f"{lock}{CREATE_TABLE}COMMIT;"
    return (
        f"{lock}SET LOCAL client_min_messages = notice;\n"
        f"DO $supamigrate$BEGIN IF to_regnamespace('{SCHEMA}') IS NULL THEN "
        f"RAISE NOTICE '{SCHEMA_MADE_MARK}'; END IF; END$supamigrate$;\n"
        f"SET LOCAL client_min_messages = warning;\n{CREATE_TABLE}COMMIT;"
    )


ALREADY_APPLIED_MARK = "supamigrate: already applied"
# Another runner recorded this version with another text while we waited for the lock: the
# database is not what this run planned against, so the run stops (drift), never skips.
OTHER_TEXT_MARK = "supamigrate: recorded with another text"


def text_key(statements: Sequence[str]) -> str:
    """md5 of the statements joined by newlines, as `_same_text` computes it on the server.
    Exact, not normalised: the CLI and every runner store the same split of the same file;
    a row that differs only in whitespace (the Dashboard) is reported as drift in the race,
    and the next run's plan, which compares normalised text, sees it as applied."""
    import hashlib  # only when a history row is written

    return hashlib.md5("\n".join(statements).encode(), usedforsecurity=False).hexdigest()


def _same_text(statements: Sequence[str]) -> str:
    """SQL: the row (of TABLE) holds this text, or no text at all (`migration repair` rows)."""
    key = text_key(statements)
    return (
        "(coalesce(cardinality(statements), 0) = 0 OR "
        f"md5(array_to_string(statements, chr(10))) = '{key}')"
    )


def recheck_sql(version: str, statements: Sequence[str]) -> str:
    """Abort the transaction if `version` is already recorded (inside the lock).

    Plain SQL, not a DO block (a plpgsql compile per migration, ~0.15 ms): a recorded
    version makes the cast of our marker text fail, which `is_already_applied` (the same
    text) or `is_other_text` (another text: stop) recognises.
    """
    marks = (
        f"CASE WHEN {_same_text(statements)} THEN {quote_literal(ALREADY_APPLIED_MARK + ' ')} "
        f"ELSE {quote_literal(OTHER_TEXT_MARK + ' ')} END"
    )
    return (
        f"SELECT ({marks} || version)::int FROM {TABLE} WHERE version = {quote_literal(version)};"
    )


def other_text_sql(version: str, statements: Sequence[str]) -> str:
    """Only the failing half of recheck_sql: for psql, whose skip is a branch, not an error."""
    return (
        f"SELECT ({quote_literal(OTHER_TEXT_MARK + ' ')} || version)::int FROM {TABLE} "
        f"WHERE version = {quote_literal(version)} AND NOT {_same_text(statements)};"
    )


def is_already_applied(sqlstate: str, message: str) -> bool:
    """The error recheck_sql raises (invalid_text_representation naming our marker)."""
    return sqlstate == "22P02" and ALREADY_APPLIED_MARK in message


def is_other_text(message: str) -> bool:
    return OTHER_TEXT_MARK in message


def other_text_message(version: str) -> str:
    return (
        f"another runner recorded version {version} with a different text while this run "
        "waited for the lock (drift): the database is not what this run planned against, so "
        "nothing of this file ran. Run `invoke status` and settle which text is right."
    )


def record_sql(version: str, name: str, statements: Sequence[str], *, replace: bool) -> str:
    """INSERT the row; with `replace` (a deliberate re-run) update it instead of failing."""
    array = "ARRAY[" + ", ".join(quote_literal(s) for s in statements) + "]::text[]"
    sql = (
        f"INSERT INTO {TABLE} (version, name, statements) "
        f"VALUES ({quote_literal(version)}, {quote_literal(name)}, {array})"
    )
    if replace:
        sql += (
            " ON CONFLICT (version) DO UPDATE SET name = excluded.name, "
            "statements = excluded.statements"
        )
    return sql + ";"


def delete_sql(version: str) -> str:
    return f"DELETE FROM {TABLE} WHERE version = {quote_literal(version)};"


# Characters a line-by-line copy of our SQL can lose or change (str.splitlines breaks at each;
# a terminal or an editor may fold CRLF), and every other one the terminal output escapes
# visibly (output._CONTROL but the line break: ESC, BEL, C1, bidi controls, ...): written as
# escapes, the value survives being printed and pasted (--method manual), so the history row
# keeps the file's text as the CLI's does, not the `\e` the terminal was shown.
DISPLAY_ESCAPED = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]"
)
_NAMED = {"\r": "\\r", "\x0c": "\\f"}


def _escape(char: str) -> str:
    point = ord(char)
    return _NAMED.get(char) or (f"\\x{point:02x}" if point < 0x80 else f"\\u{point:04x}")


def quote_literal(value: str) -> str:
    """A standard-conforming SQL string literal (E'' where a backslash, or a character the
    terminal shows otherwise than as itself, other than \\n, needs it)."""
    if "\x00" in value:
        raise ValueError("NUL bytes cannot be stored in Postgres text")
    body = value.replace("'", "''")
    shown_otherwise = DISPLAY_ESCAPED.search(body) is not None
    if "\\" in body or shown_otherwise:
        body = body.replace("\\", "\\\\")
        if shown_otherwise:
            body = DISPLAY_ESCAPED.sub(lambda found: _escape(found.group()), body)
        return "E'" + body + "'"
    return "'" + body + "'"


def normalise(text: str) -> str:
    """Fold whitespace and semicolons, so CLI rows, our rows and Dashboard rows compare equal.

    str.split() is the C-speed equivalent of folding `[\\s;]+` into one space and stripping.
    """
    return " ".join(text.replace(";", " ").split())


def digest(text: str) -> bytes:
    """A fingerprint of the normalised text: equal texts, equal digests (2**-128 otherwise)."""
    return blake2b(normalise(text).encode(), digest_size=16).digest()


def matches_file(row: HistoryRow, sql: str) -> bool:
    """Whether the stored statements still describe the file (drift check, no parsing)."""
    if row.digest is not None:
        return row.digest == digest(sql)
    if not row.statements:
        return True  # old CLI versions and `migration repair` store none: nothing to compare
    return normalise("\n".join(row.statements)) == normalise(sql)
