"""One whole-file reading of a migration with Postgres's own parser, for every safety decision.

The CLI-compatible split (sqlsplit) decides only what goes into the history row. Everything
that must be right about *meaning* (transaction control refused, psql meta-commands refused,
what needs the no-transaction marker, lint) reads the whole file here, with libpg_query via
pglast, so a string, an E'' escape, a dollar quote, a comment or an identifier can never hide
or fake a top-level COMMIT.

We ask pglast for the JSON parse tree rather than its Python nodes: `parse_sql` and `scan`
convert byte offsets to character offsets with a linear search per location, which is
quadratic on a large file full of non-ASCII text. The JSON tree carries byte offsets, and we
convert the few we need (statement starts and ends) in one forward pass.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

from supamigrate.process.quiet_gc import no_collector_passes
from supamigrate.sql.lean import restore, without_values
from supamigrate.sql.pg_json import parse_json
from supamigrate.sql.tree_json import Malformed, decode

Node = dict[str, Any]
NO_TRANSACTION_MARKER = "-- supamigrate:no-transaction"
_BACKSLASH = "ASCII_92"
_SEMICOLON = "ASCII_59"
# How many earlier `;` we try when reading the part of a broken file before its error.
_PREFIX_TRIES = 3


_new = tuple.__new__  # a named tuple made without its generated __new__'s frame


class Statement(NamedTuple):
    """One top-level statement. A named tuple, not a frozen dataclass: lint makes 30,000 for a
    long history, and a frozen dataclass's __init__ (object.__setattr__ per field) costs
    about 1 us more each."""

    kind: str  # the parse node's type, e.g. "IndexStmt"
    node: Node  # the node's fields, as libpg_query's JSON has them (defaults omitted)
    start: int  # character offset of the first token
    end: int  # character offset just past the last token (before any `;`)
    line: int  # 1-based line of the first token
    text: str


@dataclass(frozen=True)
class SyntaxProblem:
    line: int
    message: str


@dataclass(frozen=True)
class Reading:
    """The top-level statements of a file; when it does not parse, those before the error."""

    sql: str
    statements: tuple[Statement, ...]
    error: SyntaxProblem | None
    no_transaction: bool  # the first line is the `-- supamigrate:no-transaction` marker


@dataclass(frozen=True)
class Located:
    line: int
    text: str  # what was found, e.g. "COMMIT" or "\\set"


def has_no_transaction_marker(sql: str) -> bool:
    head = sql.lstrip("\ufeff")
    end = head.find("\n")  # (not split: that copies the rest of a large file)
    first_line = (head if end < 0 else head[:end]).strip().lower()
    return first_line == NO_TRANSACTION_MARKER


def line_of(sql: str, index: int) -> int:
    return sql.count("\n", 0, index) + 1


def read_sql(sql: str, *, lazy_rows: bool = False) -> Reading:
    """Parse the whole file once, as the server reads it (sqlsplit.as_sent); on a syntax
    error, keep what parses before it. With `lazy_rows`, INSERT ... VALUES rows are decoded
    on first use (sql.lean; for lint)."""
    if not sql.isascii() or "\x0b" in sql:  # (sqlsplit.as_sent: the usual file is neither)
        from supamigrate.sql.clisplit import as_sent

        sql = as_sent(sql)
    with no_collector_passes():  # a 50 MB file's tree is millions of dicts (see quiet_gc)
        return _read(sql, lazy_rows)


def _read(sql: str, lazy_rows: bool = False) -> Reading:
    from pglast import parser  # on first use: a run with nothing pending never parses

    marker = has_no_transaction_marker(sql)
    try:
        return Reading(sql, _statements(sql, lazy_rows), None, marker)
    except RecursionError:  # the parse tree is deeper than Python's JSON reader can go
        problem = SyntaxProblem(1, "an expression nested too deeply to check: split it up")
        return Reading(sql, (), problem, marker)
    except parser.ParseError as exc:
        message, index = exc.args[0], exc.args[1]
        at = len(sql) if index is None else index
        problem = SyntaxProblem(line_of(sql, at), str(message))
        return Reading(sql, _prefix_statements(sql, at), problem, marker)


def _statements(sql: str, lazy_rows: bool = False) -> tuple[Statement, ...]:
    utf8 = sql.encode("utf-8")
    tree = parse_json(sql, utf8)  # UTF-8 bytes: decoded and cut (sql.lean) as they are
    cuts: dict[int, tuple[int, int]] = {}
    raw = None
    if lazy_rows:
        lean, cuts = without_values(tree, utf8)
        try:
            raw = decode(lean)["stmts"]
        except Malformed:  # a cut that met a nested INSERT's rows: read the whole tree
            cuts = {}
    if raw is None:
        raw = decode(tree)["stmts"]
    return tuple(_built(raw, sql, utf8, tree, cuts))


def _built(
    raw: list[Node], sql: str, utf8: bytes, tree: bytes, cuts: dict[int, tuple[int, int]]
) -> list[Statement]:
    """The statements of libpg_query's items, their byte spans mapped to characters and lines
    in one forward pass over the file (a character is a byte that does not continue one,
    0x80-0xBF: counted, not decoded)."""
    size = len(utf8)
    leads = None if size == len(sql) else utf8.translate(_LEADS)  # None: ASCII, bytes = chars
    result = []
    lines, previous, chars = 1, 0, 0
    for item in raw:
        start = item.get("stmt_location", 0)
        length = item.get("stmt_len", 0)  # 0: the statement runs to the end of the file
        end = start + length if length else size
        lines += utf8.count(b"\n", previous, start)
        if leads is None:
            first, last = start, end
        else:
            chars += leads.count(b"\x01", previous, start)
            first, last = chars, chars + leads.count(b"\x01", start, end)
        previous = start
        ((kind, node),) = item["stmt"].items()
        if cuts and kind == "InsertStmt" and start in cuts:
            restore(node, tree, cuts[start])
        text = sql[first:last].rstrip()
        result.append(_new(Statement, (kind, node, first, first + len(text), lines, text)))
    return result


_LEADS = bytes(0 if 0x80 <= byte < 0xC0 else 1 for byte in range(256))


def _prefix_statements(sql: str, error_at: int) -> tuple[Statement, ...]:
    """The statements before the one that fails, so a COMMIT there is still seen.

    psql runs a broken file statement by statement up to the error, so what comes before it
    matters. We cut after a top-level `;` (a scanner token, never one inside a string) and
    try the nearest few: a `;` inside a BEGIN ATOMIC body does not end a statement.
    """
    from pglast import parser  # on first use: a run with nothing pending never parses

    try:
        tokens = scan(sql[:error_at])
    except parser.ParseError:
        return ()
    cuts = [token.end + 1 for token in tokens if token.name == _SEMICOLON]
    for cut in reversed(cuts[-_PREFIX_TRIES:]):
        try:
            return _statements(sql[:cut])
        except parser.ParseError:
            continue
    return ()


_NON_ASCII = re.compile(r"[^\x00-\x7f]")
# Where a dollar-quote tag with a non-ASCII character may start (`z` for each would make `$é$`
# and `$ü$` one tag): a `$`, ASCII tag characters, then a non-ASCII one. Linear to search.
_NON_ASCII_TAG = re.compile(r"\$[A-Za-z0-9_]*[^\x00-\x7f]")


def scan(sql: str) -> Any:
    """pglast's scanner tokens of `sql`, at character offsets, in time linear in the file.

    pglast maps each token's byte offset to a character offset with a linear search, which is
    quadratic in a file with many non-ASCII characters. Postgres's lexer reads every non-ASCII
    character like a letter (in an identifier or a dollar-quote tag) or as content (in a
    string or comment), so we scan a copy with each replaced by `z`, a letter that starts no
    prefixed literal (b, e, n, u and x do): the same token boundaries at the same character
    offsets. Only token names can differ (`éone` reads as the keyword ZONE): we use the
    boundaries, comments, `;` and `\\`. A file with a non-ASCII dollar-quote tag is scanned
    as it is.
    """
    from pglast import parser

    if _NON_ASCII_TAG.search(sql):  # rare: pglast's own offsets, exact if slow on big files
        return parser.scan(sql)
    return parser.scan(_NON_ASCII.sub("z", sql))


_TRANSACTION_WORDS = {
    "TRANS_STMT_BEGIN": "BEGIN",
    "TRANS_STMT_START": "START TRANSACTION",
    "TRANS_STMT_COMMIT": "COMMIT",
    "TRANS_STMT_ROLLBACK": "ROLLBACK",
    "TRANS_STMT_SAVEPOINT": "SAVEPOINT",
    "TRANS_STMT_RELEASE": "RELEASE",
    "TRANS_STMT_ROLLBACK_TO": "ROLLBACK TO",
    "TRANS_STMT_PREPARE": "PREPARE TRANSACTION",
    "TRANS_STMT_COMMIT_PREPARED": "COMMIT PREPARED",
    "TRANS_STMT_ROLLBACK_PREPARED": "ROLLBACK PREPARED",
}


def transaction_control(reading: Reading) -> Located | None:
    """The first top-level transaction statement (BEGIN, COMMIT, SAVEPOINT, ...)."""
    for statement in reading.statements:
        if statement.kind == "TransactionStmt":
            kind = str(statement.node.get("kind", ""))
            return Located(statement.line, _TRANSACTION_WORDS.get(kind, kind))
    return None


def prepares_transaction(reading: Reading) -> Located | None:
    """The first top-level PREPARE TRANSACTION: it ends the session's transaction by parking
    it, locks held, where no state check sees it (allowed nowhere, even without a transaction)."""
    for statement in reading.statements:
        if statement.kind == "TransactionStmt" and statement.node.get("kind") == _PREPARE:
            return Located(statement.line, "PREPARE TRANSACTION")
    return None


_PREPARE = "TRANS_STMT_PREPARE"


def psql_meta_command(sql: str) -> Located | None:
    """The first backslash command psql would execute itself (`\\set`, `\\i`, `\\!`, ...).

    The server's lexer never accepts a backslash outside a quoted token, so a file that parses
    has none. Otherwise the first syntax error is at or before the first backslash: often the
    backslash itself; if not, the scanner finds the later ones.
    """
    from pglast import parser  # on first use: a run with nothing pending never parses

    if "\\" not in sql:
        return None
    try:
        parser.parse_sql_json(sql)
        return None
    except parser.ParseError as exc:
        index = exc.args[1]
    if index is not None and sql.startswith("\\", index):
        return _meta_at(sql, index)
    for token in _scan_leniently(sql):
        if token.name == _BACKSLASH:
            return _meta_at(sql, token.start)
    return None


def _scan_leniently(sql: str) -> list[Any]:
    """Scanner tokens of the file, or of the part before a lexical error (an open quote)."""
    from pglast import parser  # on first use: a run with nothing pending never parses

    try:
        return list(scan(sql))
    except parser.ParseError as exc:
        index = exc.args[1]
        if not index:
            return []
        try:
            return list(scan(sql[:index]))
        except parser.ParseError:
            return []


def _meta_at(sql: str, index: int) -> Located:
    word = sql[index:].split(None, 1)[0] if sql[index:].strip() else "\\"
    return Located(line_of(sql, index), word)


def no_transaction_only(reading: Reading) -> list[Located]:
    """Statements Postgres refuses inside a transaction block, with their lines."""
    return [
        Located(statement.line, what)
        for statement in reading.statements
        for what in needs_no_transaction(statement)
    ]


def copies_through_client(statement: Statement) -> bool:
    """COPY ... FROM STDIN / TO STDOUT: data a migration's client never streams."""
    node = statement.node
    return statement.kind == "CopyStmt" and "filename" not in node and not node.get("is_program")


def needs_no_transaction(statement: Statement) -> Iterator[str]:
    # (a statement of any kind outside NO_TRANSACTION_KINDS yields nothing)
    """What in this statement Postgres refuses inside a transaction block."""
    kind, node = statement.kind, statement.node
    if kind == "IndexStmt" and node.get("concurrent"):
        yield "CREATE INDEX CONCURRENTLY"
    elif kind == "DropStmt" and node.get("concurrent"):
        yield "DROP INDEX CONCURRENTLY"
    elif kind == "ReindexStmt":
        yield from _reindex(node)
    elif kind == "VacuumStmt" and node.get("is_vacuumcmd"):
        yield "VACUUM"
    elif kind == "ClusterStmt" and "relation" not in node:
        yield "CLUSTER (every table)"
    elif kind == "AlterTableStmt":
        yield from _detach_concurrently(node)
    elif kind == "DiscardStmt" and node.get("target") == "DISCARD_ALL":
        yield "DISCARD ALL"
    elif kind == "AlterDatabaseStmt" and _option_names(node) & {"tablespace"}:
        yield "ALTER DATABASE SET TABLESPACE"
    elif kind in _ALWAYS_OUTSIDE:
        yield _ALWAYS_OUTSIDE[kind]


# Statements that call PreventInTransactionBlock unconditionally (PG 12-17 utility.c).
_ALWAYS_OUTSIDE = {
    "AlterSystemStmt": "ALTER SYSTEM",
    "CreatedbStmt": "CREATE DATABASE",
    "DropdbStmt": "DROP DATABASE",
    "CreateTableSpaceStmt": "CREATE TABLESPACE",
    "DropTableSpaceStmt": "DROP TABLESPACE",
}


# The kinds needs_no_transaction can name: callers skip the others (30,000 statements a history).
NO_TRANSACTION_KINDS = frozenset(
    {
        "IndexStmt", "DropStmt", "ReindexStmt", "VacuumStmt", "ClusterStmt", "AlterTableStmt",
        "DiscardStmt", "AlterDatabaseStmt", *_ALWAYS_OUTSIDE,
    }
)  # fmt: skip


def _reindex(node: Node) -> Iterator[str]:
    if "concurrently" in _option_names(node, "params"):
        yield "REINDEX CONCURRENTLY"
    elif node.get("kind") in {"REINDEX_OBJECT_SCHEMA", "REINDEX_OBJECT_SYSTEM"}:
        yield "REINDEX SCHEMA/SYSTEM"
    elif node.get("kind") == "REINDEX_OBJECT_DATABASE":
        yield "REINDEX DATABASE"


def _detach_concurrently(node: Node) -> Iterator[str]:
    for command in node.get("cmds", []):
        cmd = command["AlterTableCmd"]
        if cmd.get("subtype") == "AT_DetachPartition" and cmd["def"]["PartitionCmd"].get(
            "concurrent"
        ):
            yield "DETACH PARTITION CONCURRENTLY"


def _option_names(node: Node, field: str = "options") -> set[str]:
    return {option["DefElem"].get("defname", "") for option in node.get(field, [])}
