"""Split a migration into statements exactly as the Supabase CLI stores them.

The pinned CLI (VERIFIED_CLI_VERSION, the npm package) writes each migration's pieces to
`supabase_migrations.schema_migrations.statements`; `statements_text` must return the same
array, byte for byte. Its splitter is a black box to us: the rules below were learned by
running the binary and are held to it by tests/test_cli_split_diff.py. It cuts at each `;`
outside quotes, comments, dollar quotes, parentheses and BEGIN ATOMIC bodies, keeps comments
inside the statement they precede (a comment-only tail is its own piece), removes trailing
`;`, trims JavaScript's whitespace set (not Python's) and drops empty pieces.
docs/decisions.md lists where it differs from the old Go parser (supabase/cli pkg/parser).

pglast's scanner split was the first choice, but it drops a trailing comment and an
unparseable statement that the CLI keeps; pglast still classifies statements (`scan`).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

NO_TRANSACTION_MARKER = "-- supamigrate:no-transaction"
VERIFIED_CLI_VERSION = "3.1.0"  # the `supabase` npm release tests/test_cli_split_diff.py ran
# Statements that open or close transactions; allowed only inside function bodies, which the
# scanner sees as one string constant, so a top-level first keyword is enough to tell.
_TX_KEYWORDS = {
    "BEGIN_P",
    "COMMIT",
    "ROLLBACK",
    "SAVEPOINT",
    "RELEASE",
    "START",
    "END_P",
    "ABORT_P",
}
_COMMENTS = {"SQL_COMMENT", "C_COMMENT"}


@dataclass(frozen=True)
class Statement:
    text: str
    start: int  # character offset in the file, after strip_bom
    line: int  # 1-based line of its first character


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
    for start, stop in _spans(sql):
        raw = sql[start:stop].rstrip(";")
        text = raw.strip(_JS_SPACE)
        if text:
            first = start + len(raw) - len(raw.lstrip(_JS_SPACE))
            line += sql.count("\n", counted, first)
            counted = first
            pieces.append(Statement(text, first, line))
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
_WORD = re.compile(r"[A-Za-z_]+")
_TX_WORDS = {"BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "START", "END", "ABORT"}


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
    from pglast.parser import ParseError, scan

    try:
        return any(t.name not in _COMMENTS for t in scan(sql))
    except ParseError:
        return True


def transaction_control(statements: list[Statement]) -> Statement | None:
    """The first statement that is BEGIN/COMMIT/ROLLBACK/SAVEPOINT/..., if any."""
    from pglast.parser import ParseError, scan

    for statement in statements:
        rest = _after_lead(statement.text)
        word = _WORD.match(rest)
        if not rest.startswith("/*") and (word is None or word.group().upper() not in _TX_WORDS):
            continue  # its first token is plainly not a transaction keyword
        try:
            tokens = [t for t in scan(statement.text) if t.name not in _COMMENTS]
        except ParseError:
            continue  # the server will report the syntax error with its position
        if tokens and tokens[0].name in _TX_KEYWORDS:
            at = tokens[0].start  # past any leading comment: point at the keyword itself
            line = statement.line + statement.text.count("\n", 0, at)
            return Statement(statement.text[at:], statement.start + at, line)
    return None


def statement_at(statements: list[Statement], offset: int) -> Statement | None:
    """The statement that contains character `offset` of the file (0-based)."""
    found = None
    for statement in statements:
        if statement.start <= offset:
            found = statement
    return found


def line_of(sql: str, offset: int) -> int:
    return sql.count("\n", 0, max(offset, 0)) + 1


# --- the CLI's splitter --------------------------------------------------------------------
# A word goes on through ASCII letters, digits, `_`, `$` and any non-ASCII character: the CLI
# does not ask Unicode, so `é`, U+00A0 and U+2028 all continue a word.
_WORD_CHARS = "A-Za-z0-9_$\\x80-\\U0010ffff"
_TAG = "A-Za-z0-9_\\x80-\\U0010ffff"  # a dollar-quote tag: a word without `$`, digits first too
_SPACE = " \t\n\r\v\f"  # ASCII only, between BEGIN and ATOMIC and before END
# JavaScript's String.prototype.trim, which the CLI applies to each piece: not Python's
# str.strip(), which also strips U+0085 and U+001C-U+001F, pieces the CLI keeps.
_JS_SPACE = (
    "\t\n\v\f\r \xa0\u1680"
    + "".join(map(chr, range(0x2000, 0x200B)))
    + "\u2028\u2029\u202f\u205f\u3000\ufeff"
)
_FLAGS = re.IGNORECASE | re.ASCII  # ASCII case folding: a dotless i makes no BEGIN
# Everything that can change the splitter's state. A `$` after a word character is part of
# the word (`a$b$` opens no quote). `E'` and BEGIN ATOMIC are told by looking back at the raw
# text, as the binary does: `\\begin atomic` and `-- begin<LF>atomic` both open a body.
_CODE = re.compile(
    rf"""[;'"\\()]|--|/\*|(?<![{_WORD_CHARS}])\$[{_TAG}]*\$|(?<=[{_SPACE}])atomic""", _FLAGS
)
_BEGIN = re.compile(f"(?<![{_WORD_CHARS}])begin", _FLAGS)  # ATOMIC may go on: `atomicx` counts
_END = re.compile(f"(?<![{_WORD_CHARS}])end(?![{_WORD_CHARS}])", _FLAGS)  # `atomicend` is no END
_SPACES = re.compile(f"[{_SPACE}]*")
_NESTING = re.compile(r"/\*|\*/")
_LINE_END = re.compile(r"[\r\n]")
_E_STRING_STOP = re.compile(r"['\\]")
_IS_WORD = re.compile(f"[{_WORD_CHARS}]")
_PAREN, _ATOMIC = "(", "ATOMIC"


def _spans(sql: str) -> list[tuple[int, int]]:
    """(start, stop) of each piece: up to and including its cutting `;`, or to the end."""
    spans, start = [], 0
    for cut in _Splitter(sql).cuts():
        spans.append((start, cut))
        start = cut
    if start < len(sql):
        spans.append((start, len(sql)))
    return spans


class _Splitter:
    """Jumps from one state-changing token to the next (_CODE): linear in the file.

    `frames` holds what the text is inside: a parenthesis (they do not nest: one `)` closes
    all) or a BEGIN ATOMIC body (these nest). A `;` cuts only outside both.
    """

    def __init__(self, sql: str) -> None:
        self.sql = sql
        self.frames: list[str] = []

    def cuts(self) -> list[int]:
        found: list[int] = []
        pos = 0
        while (token := _CODE.search(self.sql, pos)) is not None:
            if token.group() == ";" and not self.frames:
                found.append(token.end())
            pos = self._step(token)
        return found

    def _step(self, token: re.Match[str]) -> int:
        """Where scanning goes on after `token`."""
        sql, text, end = self.sql, token.group(), token.end()
        if text == ";":
            return self._body_start(end) if self._inside(_ATOMIC) else end
        if text in ("'", '"'):
            return self._quote(token.start())
        if text == "\\":  # outside quotes a backslash hides the next character, but an
            if sql.startswith(")", end) and self._inside(_PAREN):  # escaped `)` still closes
                self.frames.pop()
            return end + 1
        if text == "--":
            return _line_end(sql, end)
        if text == "/*":
            return _comment_end(sql, end)
        if text == "(":
            if not self._inside(_PAREN):
                self.frames.append(_PAREN)
        elif text == ")":
            if self._inside(_PAREN):
                self.frames.pop()
        elif text[0] == "$":  # the opening's last `$` may start the closing tag: `$$$` is done
            stop = sql.find(text, end - 1)
            return len(sql) if stop < 0 else stop + len(text)
        elif _after_begin(sql, token.start()):  # ATOMIC
            self.frames.append(_ATOMIC)
            return self._body_start(end)
        return end

    def _inside(self, frame: str) -> bool:
        return bool(self.frames) and self.frames[-1] == frame

    def _quote(self, at: int) -> int:
        sql = self.sql
        e_prefix = sql[at] == "'" and sql[at - 1 : at] in ("E", "e")
        if e_prefix and (at < 2 or not _IS_WORD.match(sql, at - 2)):  # xE'' is x then ''
            return _e_string_end(sql, at + 1)
        return _quote_end(sql, at + 1, sql[at])

    def _body_start(self, pos: int) -> int:
        """At the start of a statement in a BEGIN ATOMIC body: an END here closes the body.

        Only there: `select case ... end;`, `x.end` or `)end` inside the body do not close it.
        """
        sql = self.sql
        while True:
            spaces = _SPACES.match(sql, pos)
            pos = spaces.end() if spaces else pos
            if sql.startswith("--", pos):
                pos = _line_end(sql, pos + 2)
            elif sql.startswith("/*", pos):
                pos = _comment_end(sql, pos + 2)
            else:
                break
        if _END.match(sql, pos):
            self.frames.pop()
            return pos + 3
        return pos


def _after_begin(sql: str, at: int) -> bool:
    """Whether the ATOMIC at `at` follows a BEGIN word and ASCII whitespace only."""
    start = at
    while start > 0 and sql[start - 1] in _SPACE:  # each run is walked once: stays linear
        start -= 1
    return start >= 5 and _BEGIN.fullmatch(sql, start - 5, start) is not None


def _quote_end(sql: str, pos: int, quote: str) -> int:
    """Past the closing quote of a standard string or quoted identifier (doubled = kept)."""
    while (stop := sql.find(quote, pos)) >= 0:
        if not sql.startswith(quote, stop + 1):
            return stop + 1
        pos = stop + 2
    return len(sql)


def _e_string_end(sql: str, pos: int) -> int:
    """Past the closing quote of an E'' string, where a backslash escapes any character."""
    while (stop := _E_STRING_STOP.search(sql, pos)) is not None:
        at = stop.start()
        if sql[at] == "'" and not sql.startswith("'", at + 1):
            return at + 1
        pos = at + 2
    return len(sql)


def _line_end(sql: str, pos: int) -> int:
    """A `--` comment ends before the next CR or LF."""
    stop = _LINE_END.search(sql, pos)
    return stop.start() if stop else len(sql)


def _comment_end(sql: str, pos: int) -> int:
    """Past the `*/` closing a block comment opened just before `pos`; they nest."""
    depth = 1
    while (mark := _NESTING.search(sql, pos)) is not None:
        depth += 1 if mark.group() == "/*" else -1
        pos = mark.end()
        if depth == 0:
            return pos
    return len(sql)
