"""`-- supamigrate:allow RULE REASON` comments, attached to the statement they precede.

A statement's comments are those between the end of the line where the previous statement
ends and its own first token, plus a trailing comment on the line where it ends. Between
statements there is only whitespace, `;` and comments, so matching text there is exact: a
string inside a statement can never fake a suppression.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from supamigrate.reading import Statement, line_of

_ALLOW = re.compile(r"--[ \t]*supamigrate:allow\b[ \t]*(?P<rule>[\w-]*)[ \t]*(?P<reason>[^\n]*)")


@dataclass(frozen=True)
class Allow:
    rule: str
    reason: str  # empty when the author gave none
    line: int


def allows_by_statement(sql: str, statements: tuple[Statement, ...]) -> list[list[Allow]]:
    """For each statement, the suppressions written just before it or after it on its line."""
    result = []
    previous_end = 0
    for statement in statements:
        before = _end_of_line(sql, previous_end) if previous_end else 0
        found = _allows(sql, before, statement.start)
        found += _allows(sql, statement.end, _end_of_line(sql, statement.end))
        result.append(found)
        previous_end = statement.end
    return result


def _end_of_line(sql: str, index: int) -> int:
    newline = sql.find("\n", index)
    return len(sql) if newline < 0 else newline


def _allows(sql: str, start: int, stop: int) -> list[Allow]:
    if start >= stop or "supamigrate:allow" not in sql[start:stop]:
        return []
    return [
        Allow(match["rule"], match["reason"].strip(), line_of(sql, match.start()))
        for match in _ALLOW.finditer(sql, start, stop)
    ]
