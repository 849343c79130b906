"""Which statements of a no-transaction file stay applied: what a PARTIAL line may list.

A no-transaction file runs statement by statement, each committing on its own, unless the
file opens its own block: statements inside `BEGIN ... ROLLBACK` (or rolled back to a
savepoint) leave nothing, and a block still open when the file stops (it failed inside it,
or forgot its COMMIT) is rolled back by the runner. Read with Postgres's own parser, the
same reading for every method.
"""

from __future__ import annotations

from collections.abc import Sequence

# TransactionStmtKind (pg_query): BEGIN, START, COMMIT, ROLLBACK, SAVEPOINT, RELEASE,
# ROLLBACK TO, PREPARE TRANSACTION, COMMIT PREPARED, ROLLBACK PREPARED.
_BEGIN, _START, _COMMIT, _ROLLBACK, _SAVEPOINT, _RELEASE, _ROLLBACK_TO, _PREPARE = range(8)


def what_stayed(ran: Sequence[str]) -> tuple[str, ...]:
    """Of the statements that ran, in order, those whose effects stay once the runner has
    rolled back a block the file left open."""
    stayed: list[str] = []
    block: list[str] | None = None  # statements of the open block, not yet committed
    savepoints: list[tuple[str, int]] = []  # (name, len(block) when it was set)
    for text in ran:
        kinds = _transaction_kinds(text)
        if not kinds:
            (stayed if block is None else block).append(text)
            continue
        for kind, name in kinds:
            if kind in (_BEGIN, _START) and block is None:
                block, savepoints = [], []
            elif kind == _COMMIT and block is not None:
                stayed.extend(block)
                block = None if not _chained(text) else []
            elif kind in (_ROLLBACK, _PREPARE) and block is not None:
                # A prepared transaction is not applied until someone commits it.
                block = None if not _chained(text) else []
            elif kind == _SAVEPOINT and block is not None:
                savepoints.append((name, len(block)))
            elif kind == _ROLLBACK_TO and block is not None:
                at = next((n for s, n in reversed(savepoints) if s == name), None)
                if at is not None:
                    del block[at:]
                    savepoints = [(s, n) for s, n in savepoints if n <= at]
    return tuple(stayed)


def _transaction_kinds(text: str) -> list[tuple[int, str]]:
    from pglast import parse_sql
    from pglast.parser import ParseError

    try:
        parsed = parse_sql(text)
    except ParseError:
        return []
    found = []
    for raw in parsed:
        stmt = raw.stmt
        if type(stmt).__name__ == "TransactionStmt":
            kind = int(getattr(stmt, "kind", -1))
            found.append((kind, str(getattr(stmt, "savepoint_name", "") or "")))
    return found


def _chained(text: str) -> bool:
    return "chain" in text.lower() and "no chain" not in text.lower()
