"""Pre-flight's fast pass over a file: does any statement need the whole-file reading?

`reading.read_sql` builds the parse tree of every statement, and for a 50 MB file of INSERTs
that tree (hundreds of MB of JSON) is nearly all of the time. Pre-flight only refuses a few
kinds of top-level statement (transaction control, what cannot run in a transaction, COPY
with STDIN/STDOUT), and a statement's kind is fixed by its first words: `INSERT ...` is always
an InsertStmt, `CREATE TABLE ...` never an IndexStmt. So we let Postgres's parser (libpg_query,
the same one) accept the whole file and cut it into statements without building any tree,
build the tree only for statements whose first words leave their kind open, and hand the file
to the whole reading (exact lines, the same messages) only when one of those could be refused
or the file does not parse. tests/sql/test_skim.py holds the two to the same answers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from supamigrate.sql.reading import (
    Statement,
    SyntaxProblem,
    copies_through_client,
    line_of,
    needs_no_transaction,
)
from supamigrate.sql.tree_json import decode

# First words whose statement can only be one pre-flight never refuses (DML, SELECT, grants,
# comments). Anything else, or a first word we cannot read plainly, is parsed.
_PLAIN_FIRST = frozenset(
    [
        "INSERT",
        "UPDATE",
        "DELETE",
        "SELECT",
        "VALUES",
        "WITH",
        "TABLE",
        "MERGE",
        "GRANT",
        "REVOKE",
        "COMMENT",
        "DO",  # a DO block: a DoStmt, never refused
    ]
)
# CREATE / DROP followed by these make no index, database or tablespace statement.
_PLAIN_OBJECT = frozenset(
    [
        "TABLE",
        "FUNCTION",
        "PROCEDURE",
        "POLICY",
        "VIEW",
        "TRIGGER",
        "TYPE",
        "SCHEMA",
        "SEQUENCE",
        "EXTENSION",
        "OR",
        "DOMAIN",
        "MATERIALIZED",
        "TEMP",
        "TEMPORARY",
        "UNLOGGED",
        "ROLE",
        "AGGREGATE",
    ]
)
_CREATE_OR_DROP = frozenset({"CREATE", "DROP"})
# CREATE, DROP and ALTER make a statement pre-flight refuses only with one of these words in it
# (CREATE INDEX / DROP INDEX / DETACH PARTITION ... CONCURRENTLY, CREATE / DROP / ALTER
# DATABASE, ... TABLESPACE, ALTER SYSTEM): a keyword cannot be quoted or escaped, so a
# statement without any of them is plain whatever its first words (`create index`, `alter
# table`). Searched in the raw text, comments and strings too: a hit only means "parse it".
_DDL = frozenset({"CREATE", "DROP", "ALTER"})
_DDL_REFUSABLE = ("concurrently", "database", "tablespace", "system")
# The first word, and the second when only Postgres whitespace separates them (no comment).
_WORDS = re.compile(r"([A-Za-z_][A-Za-z0-9_$]*)(?:[ \t\n\r\f\v]+([A-Za-z_][A-Za-z0-9_$]*))?")


def top_level_statements(sql: str) -> Sequence[str] | SyntaxProblem:
    """The text of each top-level statement, as Postgres's parser cuts them, or where the file
    does not parse. No parse tree is built, and the parse releases the GIL."""
    from pglast import parser  # on first use: a run with nothing pending never parses

    try:
        return parser.split(sql, with_parser=True)
    except parser.ParseError as exc:
        message, index = exc.args[0], exc.args[1]
        return SyntaxProblem(line_of(sql, len(sql) if index is None else index), str(message))


def needs_whole_reading(statements: Sequence[str], *, no_transaction: bool) -> bool:
    """Whether pre-flight must read the file whole: a statement in it is one pre-flight may
    refuse (tested on its own parse tree)."""
    return any(_refusable(text, no_transaction) for text in statements if not _kind_is_plain(text))


def _kind_is_plain(text: str) -> bool:
    words = _WORDS.match(text)
    if words is None:
        return False
    lead = words.group()
    verdict = _VERDICTS.get(lead)  # the same few first words, 400,000 times in a 50 MB file
    if verdict is None:
        verdict = _verdict(words.group(1).upper(), words.group(2))
        if len(_VERDICTS) < _VERDICTS_MAX:
            _VERDICTS[lead] = verdict
    if verdict is _ASK_TEXT:
        return not _has_ddl_refusable_word(text.lower())
    return verdict is True


_ASK_TEXT = "ddl"  # DDL: plain unless a refusable word is in its text
_VERDICTS: dict[str, bool | str] = {}
_VERDICTS_MAX = 10_000  # a file whose statements start with as many different words: not kept


def _verdict(first: str, second: str | None) -> bool | str:
    """What a statement's first words say: plain (True), parse it (False), or ask its text."""
    if first in _PLAIN_FIRST:
        return True
    if first in _CREATE_OR_DROP and second is not None and second.upper() in _PLAIN_OBJECT:
        return True
    return _ASK_TEXT if first in _DDL else False


def _has_ddl_refusable_word(lowered: str) -> bool:
    """(`in` on the lowered text: ~15 times faster than a case-blind regex. Lowering maps
    every ASCII letter, so no ASCII spelling is missed; Postgres folds only ASCII.)"""
    return any(word in lowered for word in _DDL_REFUSABLE)


def _refusable(text: str, no_transaction: bool) -> bool:
    """Whether this statement's own parse tree is one pre-flight may refuse; True also when it
    cannot tell, so the whole reading decides. pglast's split strips each statement with
    Python's strip(), which also takes U+00A0 and other spaces Postgres reads as letters off
    a trailing identifier (`rename to user<U+00A0>` then reads as the keyword USER), and a
    deeply nested expression parses but its tree is too deep to build here."""
    from pglast import parser

    try:
        items = decode(parser.parse_sql_json(text))["stmts"]
    except (parser.ParseError, RecursionError):
        return True
    for item in items:
        ((kind, node),) = item["stmt"].items()
        statement = Statement(kind, node, 0, len(text), 1, text)
        if copies_through_client(statement):
            return True
        if not no_transaction and (
            kind == "TransactionStmt" or any(needs_no_transaction(statement))
        ):
            return True
        if kind == "TransactionStmt" and node.get("kind") == "TRANS_STMT_PREPARE":
            return True  # refused in every file, also without a transaction
    return False
