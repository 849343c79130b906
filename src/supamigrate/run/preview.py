"""`migrate --dry`: what a person can read about each pending file, at the cost of its split.

A file of 400,000 statements is not shown 400,000 times: each file gets its statement count
(as its history row will store them), its first and last few statements (first line each),
how many statements of each kind it holds (by their first words), and what pre-flight's
reading with Postgres's parser found. Everything here reads the split that pre-flight and the
run share (sqlsplit caches it), so the preview costs no second pass over a big file.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from supamigrate.project.files import MigrationFile
from supamigrate.sql.sqlsplit import (
    Statement,
    code_of,
    is_no_transaction,
    lead_length,
    split_statements,
)

EDGE = 3  # statements shown at each end of a file
KINDS = 6  # kinds listed per file, the most frequent first
WIDTH = 110  # characters of a statement's first line shown
# A statement's first words (past leading `--` comments), as many as a kind needs (`create or
# replace function`): one match per statement, 400,000 in a 50 MB file.
_WORDS = re.compile(r"([A-Za-z_]+(?:\s+[A-Za-z_]+){0,3})")  # matched past leading comments
_MODIFIERS = frozenset({"OR", "REPLACE", "UNIQUE", "TEMP", "TEMPORARY", "UNLOGGED", "GLOBAL"})
_VERBS = frozenset({"CREATE", "ALTER", "DROP"})
# With the blanks, what a leading comment starts with: any other first character has no lead
# to skip (sqlsplit.lead_length, not called 400,000 times)
_MAY_LEAD = "-/"


@dataclass(frozen=True)
class FilePreview:
    migration: MigrationFile
    statements: list[Statement]
    kinds: Counter[str]

    @classmethod
    def of(cls, migration: MigrationFile) -> FilePreview:
        statements = split_statements(migration.sql)
        return cls(migration, statements, Counter(map(kind_of, statements)))

    def lines(self) -> list[str]:
        m, statements = self.migration, self.statements
        count = len(statements)
        how = (
            "OUTSIDE a transaction, statement by statement (-- supamigrate:no-transaction)"
            if is_no_transaction(m.sql)
            else "in one transaction"
        )
        lines = [f"-- {m.label} ({m.version}): {count:,} statement(s), {_size(self.size)}, {how}"]
        shown = statements if count <= 2 * EDGE + 1 else statements[:EDGE]
        lines += [_statement_line(s) for s in shown]
        if count > len(shown):
            lines.append(f"    ... {count - 2 * EDGE:,} statement(s) not shown ...")
            lines += [_statement_line(s) for s in statements[-EDGE:]]
        if self.kinds:
            top = self.kinds.most_common(KINDS)
            rest = count - sum(n for _, n in top)
            listed = ", ".join(f"{n:,} {kind}" for kind, n in top)
            lines.append(f"    by kind: {listed}" + (f", {rest:,} other" if rest else ""))
        lines.append(
            "    pre-flight (Postgres's parser, whole file): no psql command"
            + (
                ""
                if is_no_transaction(m.sql)
                else ", no transaction control, nothing that cannot run inside a transaction"
            )
        )
        return lines

    @property
    def size(self) -> int:
        return len(self.migration.sql.encode("utf-8", "surrogatepass"))

    def json(self) -> dict[str, Any]:
        return {
            "name": self.migration.label,
            "version": self.migration.version,
            "statements": len(self.statements),
            "bytes": self.size,
            "no_transaction": is_no_transaction(self.migration.sql),
            "kinds": dict(self.kinds.most_common()),
        }


def kind_of(statement: Statement) -> str:
    """`insert`, `create index`, `alter table`, `do`...: a statement's kind by its first
    words (after any leading comment); `other` when it starts with none."""
    text = statement.text
    first = text[:1]
    words = _WORDS.match(text, lead_length(text) if first in _MAY_LEAD or first.isspace() else 0)
    if words is None:
        return "other"
    first = words.group(1)
    kind = _KNOWN.get(first)  # the same few first words, 400,000 times in a 50 MB file
    if kind is None:
        kind = _kind(first)
        if len(_KNOWN) < _KNOWN_MAX:
            _KNOWN[first] = kind
    return kind


_KNOWN: dict[str, str] = {}
_KNOWN_MAX = 10_000  # a file whose statements start with as many different words: not kept


def _kind(words: str) -> str:
    parts = words.upper().split()
    if parts[0] not in _VERBS:
        return parts[0].lower()
    rest = [w for w in parts[1:] if w not in _MODIFIERS]
    return f"{parts[0]} {rest[0]}".lower() if rest else parts[0].lower()


def _statement_line(statement: Statement) -> str:
    """`line N: <its first line>`, at the line of its first token (past leading comments),
    which is the line sqlsplit gives it."""
    text = code_of(statement.text)
    line = statement.line
    first, _, more = text.partition("\n")
    first = first.rstrip()
    cut = len(first) > WIDTH
    return f"    line {line}: {first[:WIDTH]}" + (" ..." if cut or more else "")


def _size(size: int) -> str:
    if size >= 1 << 20:
        return f"{size / (1 << 20):.1f} MB"
    if size >= 1 << 10:
        return f"{size / (1 << 10):.1f} KB"
    return f"{size} bytes"
