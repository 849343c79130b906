"""`-- supamigrate:allow RULE REASON` comments, attached to the statement they precede.

squawk's `-- squawk-ignore RULE[, RULE]` and eugene's `-- eugene: ignore E2, E4` are read the
same way, mapped to our rule ids (lint.peers), with the comment itself as the reason; squawk's
`-- squawk-ignore-file [RULE, ...]` between any two statements covers the whole file (every
rule when it names none, as in squawk).

A statement's comments are those between the end of the line where the previous statement
ends and its own first token, plus a trailing comment on the line where it ends. Between
statements there is only whitespace, `;` and comments, so matching text there is exact: a
string inside a statement can never fake a suppression.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from supamigrate.lint.peers import EUGENE, SQUAWK
from supamigrate.sql.reading import Statement, line_of

_ALLOW = re.compile(r"--[ \t]*supamigrate:allow\b[ \t]*(?P<rule>[\w-]*)[ \t]*(?P<reason>[^\n]*)")
_PEER = re.compile(
    r"--[ \t]*(?:(?P<squawk>squawk-ignore(?P<file>-file)?)|eugene:[ \t]*ignore)\b"
    r"[ \t]*(?P<rules>[\w, \t-]*)"
)
EVERY_RULE = "*"  # squawk-ignore-file without rules


@dataclass(frozen=True)
class Allow:
    rule: str
    reason: str  # empty when the author gave none
    line: int


def allows_by_statement(sql: str, statements: tuple[Statement, ...]) -> list[list[Allow]]:
    """For each statement, the suppressions written just before it or after it on its line,
    and the file-wide ones."""
    if "--" not in sql:  # every form of suppression is a line comment: none in this file
        return [[] for _ in statements]
    result = []
    whole_file: list[Allow] = []
    previous_end = 0
    for statement in statements:
        before = _end_of_line(sql, previous_end) if previous_end else 0
        found = _allows(sql, before, statement.start, whole_file)
        found += _allows(sql, statement.end, _end_of_line(sql, statement.end), whole_file)
        result.append(found)
        previous_end = statement.end
    if statements:  # comments after the last statement can still ignore the file
        _allows(sql, _end_of_line(sql, previous_end), len(sql), whole_file)
    return [found + whole_file for found in result] if whole_file else result


def _end_of_line(sql: str, index: int) -> int:
    newline = sql.find("\n", index)
    return len(sql) if newline < 0 else newline


def _allows(sql: str, start: int, stop: int, whole_file: list[Allow]) -> list[Allow]:
    if start >= stop or sql.find("--", start, stop) < 0:  # no comment here: most statements
        return []
    found = []
    if sql.find("supamigrate:allow", start, stop) >= 0:
        found = [
            Allow(match["rule"], match["reason"].strip(), line_of(sql, match.start()))
            for match in _ALLOW.finditer(sql, start, stop)
        ]
    if sql.find("squawk-ignore", start, stop) >= 0 or sql.find("eugene:", start, stop) >= 0:
        for match in _PEER.finditer(sql, start, stop):
            allows = _peer_allows(match, line_of(sql, match.start()))
            (whole_file if match["file"] else found).extend(allows)
    return found


def _peer_allows(match: re.Match[str], line: int) -> list[Allow]:
    names = [name for name in re.split(r"[\s,]+", match["rules"]) if name]
    table = SQUAWK if match["squawk"] else EUGENE
    reason = match.group(0).removeprefix("--").strip()
    if match["file"] and not names:
        return [Allow(EVERY_RULE, reason, line)]
    allows = []
    for name in names:
        key = name.lower() if match["squawk"] else name.upper()
        if key not in table:
            allows.append(Allow(f"{'squawk' if match['squawk'] else 'eugene'}:{name}", "?", line))
        allows += [Allow(rule, reason, line) for rule in table.get(key, ())]
    return allows
