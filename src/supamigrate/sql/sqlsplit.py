"""Split a migration into statements exactly as the Supabase CLI stores them.

The pinned CLI (VERIFIED_CLI_VERSION, the npm package) writes each migration's pieces to
`supabase_migrations.schema_migrations.statements`; `statements_text` must return the same
array, byte for byte. Its splitter is a black box to us: the rules (in clisplit) were learned
by running the binary and are held to it by tests/sql/test_cli_split_diff.py. It cuts at each `;`
outside quotes, comments, dollar quotes, parentheses and BEGIN ATOMIC bodies, keeps comments
inside the statement they precede (a comment-only tail is its own piece), removes trailing
`;`, trims JavaScript's whitespace set (not Python's) and drops empty pieces.
docs/decisions.md lists where it differs from the old Go parser (supabase/cli pkg/parser).

pglast's scanner split was the first choice, but it drops a trailing comment and an
unparseable statement that the CLI keeps. What a statement *means* is read by reading.py.
"""

from __future__ import annotations

import functools
import re
from typing import NamedTuple

from supamigrate.sql.blanks import JS_SPACE

NO_TRANSACTION_MARKER = "-- supamigrate:no-transaction"
VERIFIED_CLI_VERSION = "3.1.0"  # the `supabase` npm release tests/sql/test_cli_split_diff.py ran
_COMMENTS = {"SQL_COMMENT", "C_COMMENT"}


_new = tuple.__new__  # a named tuple made without its generated __new__'s frame


class Statement(NamedTuple):
    """(A named tuple: a 50 MB file makes 400,000 of them, twice as fast as a dataclass.)"""

    text: str
    start: int  # character offset in the file, after strip_bom
    line: int  # 1-based line of its first token (past leading comments)


def strip_bom(text: str) -> str:
    """The text without one leading U+FEFF, as the CLI reads a migration file."""
    return text[1:] if text.startswith("\ufeff") else text


def split_statements(sql: str) -> list[Statement]:
    return list(_split_cached(strip_bom(sql)))


@functools.lru_cache(maxsize=1024)
def _split_cached(sql: str) -> tuple[Statement, ...]:
    """Checked before the run, recorded during it: each file is split once."""
    pieces: list[Statement] = []
    line, counted = 1, 0  # newlines are counted once, up to each statement: linear in the file
    count, append, space = sql.count, pieces.append, JS_SPACE
    for start, stop in _spans(sql):
        raw = sql[start:stop].rstrip(";")
        left = raw.lstrip(space)
        text = left.rstrip(space)
        if text:
            first = start + len(raw) - len(left)
            # Its line is its first token's, past leading comments: the line lint, the
            # rehearsal's trace and a server error position give for the same statement.
            token = first
            if text[0] in _MAY_LEAD or text[0].isspace():  # (lead_length, inline: 400,000)
                token += lead_length(text)
            line += count("\n", counted, token)
            counted = token
            append(_new(Statement, (text, first, line)))
    return tuple(pieces)


def split_raw(sql: str) -> list[str]:
    """The CLI's pieces before trimming: each up to and including its cutting `;`."""
    sql = strip_bom(sql)
    return [sql[start:stop] for start, stop in _spans(sql)]


def statements_text(sql: str) -> list[str]:
    """The `statements` array for the history row."""
    return [statement.text for statement in split_statements(sql)]


def is_no_transaction(sql: str) -> bool:
    first_line = sql.lstrip("\ufeff").split("\n", 1)[0].strip().lower()
    return first_line == NO_TRANSACTION_MARKER


# Leading whitespace and `--` comments; what follows is either a /* comment (ask pglast) or
# the first token. Used to skip pglast's scanner for the common, plainly-not-matching case.
_LEAD = re.compile(r"(?:\s+|--[^\n]*(?:\n|$))*")


_CODE = re.compile(r"(?:\s+|--[^\n]*(?:\n|$)|/\*(?:[^*]|\*(?!/))*\*/)*")


def code_of(text: str) -> str:
    """A statement's text from its first token (leading comments and blanks skipped)."""
    return text[lead_length(text) :]


_MAY_LEAD = "-/"  # with the blanks, what a leading comment or blank starts with


def lead_length(text: str) -> int:
    """How many leading characters `code_of` skips: 0 for a text that is all comment."""
    first = text[:1]
    if first not in _MAY_LEAD and not first.isspace():
        return 0  # the usual statement, its first token first: no match (400,000 in 50 MB)
    lead = _CODE.match(text)
    end = lead.end() if lead else 0
    return end if end < len(text) else 0


def _after_lead(text: str) -> str:
    lead = _LEAD.match(text)
    return text[lead.end() if lead else 0 :]


def has_sql(sql: str) -> bool:
    """False for a file that is empty or only comments (an unparseable one counts as SQL)."""
    rest = _after_lead(sql)
    if not rest:
        return False
    if not rest.startswith("/*"):
        return True
    from pglast.parser import ParseError

    from supamigrate.sql.reading import scan  # linear in a file of non-ASCII text

    try:
        return any(t.name not in _COMMENTS for t in scan(sql))
    except ParseError:
        return True


def statement_at(statements: list[Statement], offset: int) -> Statement | None:
    """The statement that contains character `offset` of the file (0-based)."""
    found = None
    for statement in statements:
        if statement.start <= offset:
            found = statement
    return found


def line_of(sql: str, offset: int) -> int:
    return sql.count("\n", 0, max(offset, 0)) + 1


def as_sent(sql: str) -> str:
    """The file as the server reads the CLI's pieces: clisplit.as_sent (its patterns are
    compiled only for a file that may need it)."""
    if sql.isascii() and "\x0b" not in sql:  # (VT: the one such character in ASCII)
        return sql
    from supamigrate.sql.clisplit import as_sent as sent

    return sent(sql)


def _spans(sql: str) -> list[tuple[int, int]]:
    """(start, stop) of each piece: up to and including its cutting `;`, or to the end."""
    from supamigrate.sql.clisplit import spans  # compiled on first use: see clisplit

    return spans(sql)
