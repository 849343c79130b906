"""What `--rehearse` says about each migration: its trace, its summary, lint's disagreements."""

from __future__ import annotations

from typing import Any

from supamigrate.executors.base import Result
from supamigrate.lint.exclusive import access_exclusive_tables
from supamigrate.reading import read_sql
from supamigrate.trace import MigrationTrace, TableSize

_EXCLUSIVE = "AccessExclusiveLock"


def trace_lines(result: Result) -> list[str]:
    """Per statement that locked or rewrote something: what, what it blocks, and its time;
    then the migration's strongest lock per table, with the table's size there."""
    trace = result.trace
    if trace is None:
        return []
    lines = []
    for statement in trace.statements:
        if not statement.locks and not statement.rewrites:
            continue
        parts = [f"{lk.mode} on {lk.relation} (blocks {lk.blocks})" for lk in statement.locks]
        parts += [f"REWROTE {relation}" for relation in statement.rewrites]
        lines.append(f"    line {statement.line}: {'; '.join(parts)}; {statement.ms:.0f} ms")
    for relation, mode, line in trace.strongest():
        if mode == _EXCLUSIVE:
            size = _size(trace.sizes.get(relation))
            lines.append(f"  ACCESS EXCLUSIVE on {relation}{size}, from line {line} to commit")
    return lines + disagreements(result.migration.sql, trace)


def disagreements(sql: str, trace: MigrationTrace) -> list[str]:
    """Where lint's static lock model and what the server did differ, statement by statement."""
    reading = read_sql(sql)
    expected = {
        st.line: {_qualified(t) for t in access_exclusive_tables(st)} for st in reading.statements
    }
    held: set[str] = set(trace.held_before)  # an earlier migration of the rehearsal took them
    created: set[str] = set()
    lines = []
    for statement in trace.statements:
        created |= set(statement.created)
        taken = {lk.relation for lk in statement.locks if lk.mode == _EXCLUSIVE} - created
        wanted = expected.get(statement.line, set()) - created
        held |= taken
        for relation in sorted(wanted - held):
            lines.append(
                f"  lint and trace disagree at line {statement.line}: lint expected ACCESS "
                f"EXCLUSIVE on {relation}; the server did not take it"
            )
        for relation in sorted(taken - wanted):
            lines.append(
                f"  lint and trace disagree at line {statement.line}: the server took ACCESS "
                f"EXCLUSIVE on {relation}; lint did not expect it"
            )
    return lines


def trace_json(result: Result) -> dict[str, Any]:
    if result.trace is None:
        return {}
    sizes = {r: {"rows": s.rows, "bytes": s.bytes} for r, s in result.trace.sizes.items()}
    return {"statements": [s.as_dict() for s in result.trace.statements], "tables": sizes}


def _qualified(name: str) -> str:
    return name if "." in name else f"public.{name}"


def _size(size: TableSize | None) -> str:
    if size is None:
        return ""
    rows = "rows unknown (never analysed)" if size.rows is None else f"{size.rows:,} rows"
    return f" ({rows}, {size.bytes / 1_048_576:.1f} MB)"
