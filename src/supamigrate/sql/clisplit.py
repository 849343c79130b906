"""The Supabase CLI's splitter, as learned from its binary (see sqlsplit, which uses it).

Its own module so that its patterns are compiled only by a run that splits a file: a run
with nothing pending never does.
"""

from __future__ import annotations

import re

from supamigrate.sql.blanks import JS_SPACE, PG_BLANK


def _with_non_ascii(ascii_members: str) -> str:
    """A character class of `ascii_members` and every non-ASCII character, spelled as the
    negation of the other ASCII characters: a range up to U+10FFFF takes ~4 ms to compile
    (each pattern, at every start), this ~0.05 ms."""
    others = (chr(code) for code in range(128) if chr(code) not in ascii_members)
    return "[^" + "".join(f"\\x{ord(char):02x}" for char in others) + "]"


_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_"
# A word goes on through ASCII letters, digits, `_`, `$` and any non-ASCII character: the CLI
# does not ask Unicode, so `é`, U+00A0 and U+2028 all continue a word.
_WORD = _with_non_ascii(_ALNUM + "$")
_TAG = _with_non_ascii(_ALNUM)  # a dollar-quote tag: a word without `$`, digits first too
_SPACE = " \t\n\r\v\f"  # ASCII only, between BEGIN and ATOMIC and before END
# Keywords fold ASCII case only ((?i:) under re.ASCII): a dotless i makes no BEGIN.
# Everything that can change the splitter's state. A `$` after a word character is part of
# the word (`a$b$` opens no quote). `E'` and BEGIN ATOMIC are told by looking back at the raw
# text, as the binary does: `\\begin atomic` and `-- begin<LF>atomic` both open a body.
# Every alternative starts with a plain character (the look-behinds come after it), so the
# regex engine skips ahead to the next candidate character instead of trying each alternative
# at each position: the split of a 50 MB file is a few seconds, not tens. The ATOMIC token
# starts at the whitespace before the word; a file without the word searches without it.
_TOKENS = rf"""[;'"\\()]|--|/\*|\$(?<!{_WORD}\$){_TAG}*\$"""
_CODE = re.compile(rf"{_TOKENS}|[{_SPACE}](?i:atomic)", re.ASCII)
_CODE_NO_ATOMIC = re.compile(_TOKENS, re.ASCII)
_BEGIN = re.compile(f"(?<!{_WORD})(?i:begin)", re.ASCII)  # ATOMIC may go on: `atomicx` counts
_END = re.compile(f"(?<!{_WORD})(?i:end)(?!{_WORD})", re.ASCII)  # `atomicend` is no END
_SPACES = re.compile(f"[{_SPACE}]*")
_NESTING = re.compile(r"/\*|\*/")
_LINE_END = re.compile(r"[\r\n]")
_E_STRING_STOP = re.compile(r"['\\]")
_IS_WORD = re.compile(_WORD)
_PAREN, _ATOMIC = "(", "ATOMIC"

# The common stretch of a statement in one match, to just before what the token loop must
# see (`;` outside parentheses, `$`, a backslash, `/*`, an E'' string or an unclosed quote or
# parenthesis): plain text, '' strings and "" names (doubled quotes kept), `--` comments, and
# parentheses holding the same (a `(` inside one is plain, a `;` inside one cuts nothing).
# Each stretch is then one step of the loop, not one per parenthesis and quote: 2,400,000
# tokens in a 50 MB file. Possessive (3.11+): a stretch with no closing `)` fails in linear
# time. Files that mention ATOMIC take the token loop only (the words are tokens there).
_QUOTED = r"""(?<![Ee])'[^']*+(?:''[^']*+)*+'|"[^"]*+(?:""[^"]*+)*+"|--[^\r\n]*+"""
_PLAIN_IN = r"""[^'"\\()$/-]++|-(?!-)|/(?!\*)|\("""  # inside parentheses: `;` and `(` too
_STRETCH = re.compile(
    rf"""(?:[^;'"\\()$/-]++|-(?!-)|/(?!\*)|{_QUOTED}|\((?:{_PLAIN_IN}|{_QUOTED})*+\))*+"""
)


class _Splitter:
    """Jumps from one state-changing token to the next (_CODE): linear in the file.

    `frames` holds what the text is inside: a parenthesis (they do not nest: one `)` closes
    all) or a BEGIN ATOMIC body (these nest). A `;` cuts only outside both.
    """

    def __init__(self, sql: str, stretches: bool = True) -> None:
        self.sql = sql
        self.frames: list[str] = []
        self.stretches = stretches  # False: token by token only (the tests' reference)

    def cuts(self) -> list[int]:
        sql, frames = self.sql, self.frames
        found: list[int] = []
        atomic = "atomic" in sql.lower()
        search = (_CODE if atomic else _CODE_NO_ATOMIC).search
        stretch = None if atomic or not self.stretches else _STRETCH.match
        pos = 0
        # The most frequent tokens are handled here, the rest in _step: a 50 MB file has
        # millions of tokens, and a method call each is most of the time.
        while True:
            if stretch is not None and not frames:
                pos = stretch(sql, pos).end()  # type: ignore[union-attr]  # (`*+`: always)
            token = search(sql, pos)
            if token is None:
                break
            text = token.group()
            if text == ";" and not frames:
                pos = token.end()
                found.append(pos)
            elif text == "(":
                if not frames or frames[-1] != _PAREN:
                    frames.append(_PAREN)
                pos = token.end()
            elif text == ")":
                if frames and frames[-1] == _PAREN:
                    frames.pop()
                pos = token.end()
            elif text == "'":
                pos = self._quote(token.start())
            else:
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
        elif _after_begin(sql, token.start() + 1):  # ATOMIC, after its whitespace
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


def spans(sql: str, stretches: bool = True) -> list[tuple[int, int]]:
    """(start, stop) of each piece: up to and including its cutting `;`, or to the end."""
    spans, start = [], 0
    for cut in _Splitter(sql, stretches).cuts():
        spans.append((start, cut))
        start = cut
    if start < len(sql):
        spans.append((start, len(sql)))
    return spans


_TRIMMED_NOT_BLANK = re.compile("[" + "".join(c for c in JS_SPACE if c not in PG_BLANK) + "]")


def as_sent(sql: str) -> str:
    """The file as the server reads the CLI's pieces. The CLI trims JavaScript's blanks off
    each piece and sends what is left; some of them (U+00A0 from a web page, U+2028, U+3000,
    a BOM inside the file, VT) Postgres reads as part of a word. Where they stand around a
    piece they are spaces here, so a file `supabase db push` applies is not refused, and a
    statement runs as the CLI runs it. The same length: lines and offsets are the file's.
    Left as it is if the change would move a cut (a `$$` right after one: the CLI's word)."""
    if _TRIMMED_NOT_BLANK.search(sql) is None:
        return sql
    cuts = spans(sql)
    chars = list(sql)
    for start, stop in cuts:
        raw = sql[start:stop].rstrip(";")
        left = raw.lstrip(JS_SPACE)
        lead, trail = len(raw) - len(left), len(left) - len(left.rstrip(JS_SPACE))
        for at in (*range(start, start + lead), *range(start + len(raw) - trail, start + len(raw))):
            if chars[at] not in PG_BLANK:
                chars[at] = " "
    sent = "".join(chars)
    return sent if spans(sent) == cuts else sql
