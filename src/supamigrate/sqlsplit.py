"""Split a migration into statements exactly as the Supabase CLI stores them.

A faithful port of the CLI's tokenizer (supabase/cli pkg/parser: state.go, token.go,
SplitAndTrim): it cuts at each `;` outside quotes, comments, dollar quotes, parentheses and
BEGIN ATOMIC bodies, keeps the comments before a statement inside it, trims trailing `;` and
surrounding whitespace, and drops empty pieces. It is deliberately bug-compatible (an E''
string with an escaped quote splits where the CLI splits it), because these pieces are what
the CLI writes to `statements` and compares later. We still send the whole file to the
server, so such a file executes correctly.

pglast's scanner split was the first choice, but it drops a trailing comment and an
unparseable statement that the CLI keeps; pglast still classifies statements (`scan`).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

NO_TRANSACTION_MARKER = "-- supamigrate:no-transaction"
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
    start: int  # character offset in the file
    line: int  # 1-based line of its first character


def split_statements(sql: str) -> list[Statement]:
    return list(_split_cached(sql))


@functools.lru_cache(maxsize=1024)
def _split_cached(sql: str) -> tuple[Statement, ...]:
    """Checked before the run, recorded during it: each file is split once."""
    pieces: list[Statement] = []
    for start, stop in _tokens(sql):
        raw = sql[start:stop].rstrip(";")
        text = raw.strip()
        if text:
            first = start + (len(raw) - len(raw.lstrip()))
            pieces.append(Statement(text, first, line_of(sql, first)))
    return tuple(pieces)


def split_raw(sql: str) -> list[str]:
    """The CLI's `Split` (before trimming): each piece up to and including its `;`."""
    return [sql[start:stop] for start, stop in _tokens(sql)]


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


# --- the CLI's tokenizer ---------------------------------------------------------------------
# Each state's step(ch, sql, start, end) sees the token so far, sql[start:end], whose last
# character is ch; it returns the next state, or None to end the token after ch.

_ATOMIC = "ATOMIC"


class _Ready:
    def step(self, ch: str, sql: str, start: int, end: int) -> _State | None:
        if ch == "$":
            return _Tag(end - 1)
        if ch in "'\"":
            return _Quote(ch)
        if ch == "-":
            return _Comment()
        if ch == "/":
            return _Block()
        if ch == "\\":
            return _Escape()
        if ch == ";":
            return None
        if ch == "(":
            return _Atomic(self, ")")
        if ch in "cC":
            offset = end - len(_ATOMIC)
            if offset > start and sql[offset:end].upper() == _ATOMIC and sql[offset - 1].isspace():
                return _Atomic(self, "END")
        return self


class _Comment:
    def step(self, ch: str, sql: str, start: int, end: int) -> _State | None:
        if ch == "-":
            return _Dollar("\n")  # nothing is escaped in a line comment
        return _Ready().step(ch, sql, start, end)


class _Block:
    def __init__(self) -> None:
        self.depth = 0

    def step(self, ch: str, sql: str, start: int, end: int) -> _State | None:
        window = sql[max(start, end - 2) : end]
        if window == "/*":
            self.depth += 1
            return self
        if self.depth == 0:
            return _Ready().step(ch, sql, start, end)
        if window == "*/":
            self.depth -= 1
            if self.depth == 0:
                return _Ready()
        return self


class _Quote:
    def __init__(self, delimiter: str) -> None:
        self.delimiter = delimiter
        self.escape = False

    def step(self, ch: str, sql: str, start: int, end: int) -> _State | None:
        if self.escape:
            if ch == self.delimiter:  # a doubled quote stays inside the string
                self.escape = False
                return self
            return _Ready().step(ch, sql, start, end)
        if ch == self.delimiter:
            self.escape = True
        return self


class _Dollar:
    def __init__(self, delimiter: str) -> None:
        self.delimiter = delimiter

    def step(self, ch: str, sql: str, start: int, end: int) -> _State | None:
        begin = end - len(self.delimiter)
        if begin >= start and sql.startswith(self.delimiter, begin):
            return _Ready()
        return self


class _Tag:
    def __init__(self, offset: int) -> None:
        self.offset = offset

    def step(self, ch: str, sql: str, start: int, end: int) -> _State | None:
        if ch == "$":
            return _Dollar(sql[self.offset : end])
        if ch.isalpha() or ch.isdigit() or ch == "_":
            return self
        return _Ready().step(ch, sql, start, end)


class _Escape:
    def step(self, ch: str, sql: str, start: int, end: int) -> _State | None:
        return _Ready()


class _Atomic:
    def __init__(self, prev: _State, delimiter: str) -> None:
        self.prev = prev
        self.delimiter = delimiter

    def step(self, ch: str, sql: str, start: int, end: int) -> _State | None:
        current = self.prev.step(ch, sql, start, end)
        if current is not None:  # inside a quote, the delimiter does not count
            self.prev = current
        if isinstance(self.prev, _Ready):
            begin = end - len(self.delimiter)
            if begin >= start and sql[begin:end].upper() == self.delimiter.upper():
                return _Ready()
        return self


_State = _Ready | _Comment | _Block | _Quote | _Dollar | _Tag | _Escape | _Atomic


def _tokens(sql: str, *, jump: bool = True) -> list[tuple[int, int]]:
    """(start, stop) of each token: up to and including its `;`, or to the end of the file.

    Stepping every character through the states costs ~1 ms per typical file in Python, so
    a state that is at rest (it would return itself, unchanged, for most characters) jumps
    straight to the next character that could change it. `jump=False` steps every character:
    tests/test_sqlsplit.py checks the two agree on generated SQL.
    """
    spans = []
    state: _State = _Ready()
    start = index = 0
    size = len(sql)
    while index < size:
        following = state.step(sql[index], sql, start, index + 1)
        if following is None:
            spans.append((start, index + 1))
            start = index + 1
            state = _Ready()
        else:
            state = following
        index += 1
        wake = _wakers(state) if jump else None
        if wake is not None:
            found = wake.search(sql, index)
            index = found.start() if found else size
    if start < size:
        spans.append((start, size))
    return spans


# What can move a resting state. In _Ready, a `c` matters only as the end of ATOMIC. Any
# non-ASCII character is always stepped: str.upper() of some changes length.
_READY_WAKERS = "[$'\"\\-/\\\\;(]|(?<=[Aa][Tt][Oo][Mm][Ii])[cC]"
_WAKER_CACHE: dict[str, re.Pattern[str]] = {}


def _resting_wakers(state: _State) -> str | None:
    """A regex for what could change `state`, or None if the next character always can."""
    if isinstance(state, _Ready):
        return _READY_WAKERS
    if isinstance(state, _Quote):
        return None if state.escape else re.escape(state.delimiter)
    if isinstance(state, _Dollar):
        return re.escape(state.delimiter[-1])
    if isinstance(state, _Block):
        return "[*/]" if state.depth > 0 else None
    if isinstance(state, _Atomic):
        inner = _resting_wakers(state.prev)
        if inner is None or not isinstance(state.prev, _Ready):
            return inner
        last = state.delimiter[-1]
        return f"{inner}|[{re.escape(last.lower())}{re.escape(last.upper())}]"
    return None  # _Comment, _Tag, _Escape: the very next character decides


def _wakers(state: _State) -> re.Pattern[str] | None:
    source = _resting_wakers(state)
    if source is None:
        return None
    pattern = _WAKER_CACHE.get(source)
    if pattern is None:
        pattern = _WAKER_CACHE[source] = re.compile(f"{source}|[^\\x00-\\x7f]")
    return pattern
