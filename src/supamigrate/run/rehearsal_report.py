"""What `--rehearse` says about each migration: its verdict, its trace, lint's disagreements,
and whether anything changed outside the rolled-back transaction."""

from __future__ import annotations

from typing import Any

from supamigrate.executors import fingerprint as fp
from supamigrate.executors.results import Outcome, Result
from supamigrate.executors.trace import Lock, MigrationTrace, TableSize
from supamigrate.lint.exclusive import access_exclusive_tables
from supamigrate.sql.reading import read_sql

_EXCLUSIVE = "AccessExclusiveLock"
NOT_REHEARSED = "not rehearsed from here, because"
NOT_ANALYSED = frozenset({"DoStmt"})  # lint.engine.check_file_rules: dynamic-sql-not-analysed


def verdict_line(index: int, total: int, result: Result) -> str:
    head = f"[{index}/{total}] {result.migration.label} ... "
    if result.outcome is Outcome.NOT_REHEARSED:
        why = result.trace.stopped if result.trace is not None else ""
        return f"{head}{NOT_REHEARSED} {why}"
    return f"{head}{result.outcome.value} ({result.ms:.0f} ms)"


def trace_lines(result: Result) -> list[str]:
    """Per statement that needs a lock, rewrote something or said something: what, what it
    blocks, since when it is held, its time; then the migration's strongest lock per table
    that existed before it, with the table's size there."""
    trace = result.trace
    if trace is None:
        return []
    lines = []
    for statement in trace.statements:
        if statement.locks or statement.rewrites:
            parts = [_lock(lock) for lock in statement.locks]
            parts += [f"REWROTE {relation}" for relation in statement.rewrites]
            lines.append(f"    line {statement.line}: {'; '.join(parts)}; {statement.ms:.0f} ms")
        lines += [f"    line {statement.line}: {text}" for text in statement.notices]
    # Said after the file's statements (the tenant boundary guard): under it, as a real run shows
    said = [n for s in trace.statements for n in s.notices]
    lines += [f"  {text}" for text in result.notices if text not in said]
    for relation, mode, line in trace.strongest():
        if mode == _EXCLUSIVE:
            size = _size(trace.sizes.get(relation))
            lines.append(f"  ACCESS EXCLUSIVE on {relation}{size}, from line {line} to commit")
    return lines + disagreements(result.migration.sql, trace)


def commit_lines(result: Result) -> list[str]:
    """After the error: where a failure at the file's end happened."""
    failure = result.failure
    if failure is not None and failure.located_by == "COMMIT":
        return ["  at this file's COMMIT, after its last statement: a deferred constraint"]
    return []


def _lock(lock: Lock) -> str:
    if lock.created_at is not None:
        return (
            f"{lock.mode} on {lock.relation} (made at line {lock.created_at} of this file: "
            "blocks nobody until commit)"
        )
    if lock.held_since is not None:
        return f"{lock.mode} on {lock.relation} (held since line {lock.held_since})"
    earlier = "; held since an earlier file here, taken anew by the real run" * lock.earlier
    return f"{lock.mode} on {lock.relation} (blocks {lock.blocks}{earlier})"


def disagreements(sql: str, trace: MigrationTrace) -> list[str]:
    """Where lint's static lock model and what the server did differ, statement by statement."""
    reading = read_sql(sql)
    expected = {
        st.line: {_qualified(t) for t in access_exclusive_tables(st)} for st in reading.statements
    }
    # Statements lint says it does not analyse (rule dynamic-sql-not-analysed: a DO block's
    # body is run, not read): lint expected nothing there, so a lock there is no disagreement.
    unread = {st.line for st in reading.statements if st.kind in NOT_ANALYSED}
    held: set[str] = set()
    created: set[str] = set()
    lines = []
    for statement in trace.statements:
        if statement.error:
            continue
        if statement.line in unread:
            created |= set(statement.created)
            held |= {lk.relation for lk in statement.locks if lk.mode == _EXCLUSIVE}
            continue
        created |= set(statement.created)
        taken = {
            lk.relation for lk in statement.locks if lk.mode == _EXCLUSIVE and lk.taken_here
        } - created
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
    trace = result.trace
    sizes = {r: {"rows": s.rows, "bytes": s.bytes} for r, s in trace.sizes.items()}
    doc = {"statements": [s.as_dict() for s in trace.statements], "tables": sizes}
    return doc | ({"not_rehearsed_because": trace.stopped} if trace.stopped else {})


def summary(
    results: list[Result], changed: list[str] | None
) -> tuple[list[str], dict[str, Any], int]:
    """The closing lines, the JSON summary and the exit code.

    Exit 1 when a file failed, or when the catalog changed outside the rolled-back transaction
    (a rehearsal must change nothing); 0 otherwise: a file not rehearsed is neither a pass nor
    a failure, it is counted in `not_rehearsed` and named above. A sequence that moved is
    reported but does not fail when it moved forward (on a live database the app moves them
    too); set back, it fails: the app's next inserts may collide.
    """
    counts = {o: sum(r.outcome is o for r in results) for o in Outcome}
    ok, failed = counts[Outcome.OK], counts[Outcome.FAILED]
    skipped = counts[Outcome.NOT_REHEARSED]
    catalog = [c for c in changed or [] if not fp.is_harmless(c)]
    lines = []
    if failed:
        lines.append(f"Rehearsal failed: {ok} ok, {failed} failed, {skipped} not rehearsed.")
    elif skipped:
        lines.append(
            f"Rehearsal incomplete: {ok} migration(s) ok, {skipped} not rehearsed (see why "
            "above; exit 0: a file not rehearsed counts as neither pass nor failure)."
        )
    else:
        lines.append(f"Rehearsal passed: {ok} migration(s) ok, each in its own subtransaction.")
    if changed is None:
        lines.append("Everything it ran was rolled back.")
    elif not changed:
        lines.append(
            "Everything it ran was rolled back; nothing was changed (catalog and sequences "
            "compared before and after)."
        )
    else:
        lines.append("Everything in its transaction was rolled back, but NOT these changes:")
        lines += [f"  {change}" for change in changed]
        if catalog:
            lines.append(
                "  No rollback undoes them (a second connection such as dblink, a replication "
                "slot, setval, or another session meanwhile): undo them by hand."
            )
    code = 1 if failed or catalog else 0
    doc = {
        "ok": ok,
        "failed": failed,
        "not_rehearsed": skipped,
        "changed_outside": changed,
        "exit": code,
    }
    return lines, doc, code


def _qualified(name: str) -> str:
    return name if "." in name else f"public.{name}"


def _size(size: TableSize | None) -> str:
    return "" if size is None else size.shown()
