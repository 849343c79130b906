"""lint: read each migration once with Postgres's parser and run every rule over it."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from supamigrate.lint import breaking, exclusive, hazards, locks, security
from supamigrate.lint.catalog import RULES
from supamigrate.lint.findings import Finding, Hit
from supamigrate.lint.known import LEARNT_KINDS, Known, learn
from supamigrate.lint.migration import Migration, read_migration
from supamigrate.lint.parallel import Source, lint_in_two, text_of, worth_it
from supamigrate.lint.suppress import EVERY_RULE, Allow, allows_by_statement
from supamigrate.process.heap import reuse_freed_blocks
from supamigrate.process.quiet_gc import no_collector_passes
from supamigrate.sql.reading import (
    NO_TRANSACTION_KINDS,
    Reading,
    Statement,
    needs_no_transaction,
    psql_meta_command,
    read_sql,
)

Check = Callable[[Statement, int, Migration], Iterator[Hit]]


def check_file_rules(statement: Statement, index: int, migration: Migration) -> Iterator[Hit]:
    """Statements the runner refuses or cannot run as written, and SQL lint cannot see."""
    if statement.kind == "TransactionStmt" and not migration.no_transaction:
        # a no-transaction file may open and close its own (the runner checks it ends closed)
        yield Hit("transaction-control", statement.line, statement.text.split(None, 1)[0])
    if not migration.no_transaction and statement.kind in NO_TRANSACTION_KINDS:
        for what in needs_no_transaction(statement):
            yield Hit("requires-no-transaction", statement.line, f"{what} in a transaction")
    if statement.kind == "DoStmt":
        yield Hit("dynamic-sql-not-analysed", statement.line, "DO block")


CHECKS: list[Check] = [
    check_file_rules,
    *locks.CHECKS,
    *exclusive.CHECKS,
    *hazards.CHECKS,
    *breaking.CHECKS,
    *security.CHECKS,
]
_FK_RULE = "unindexed_foreign_keys"
# The statement kinds each check can report on; a check not listed sees every statement.
# Dispatching by kind keeps a large file's cost to the few checks each statement concerns.
KINDS: dict[object, frozenset[str]] = {
    check_file_rules: frozenset({"TransactionStmt", "DoStmt"}) | NO_TRANSACTION_KINDS,
    locks.check_index: frozenset({"IndexStmt"}),
    locks.check_drop_index: frozenset({"DropStmt"}),
    locks.check_alter_table: frozenset({"AlterTableStmt"}),
    locks.check_move_all: frozenset({"AlterTableMoveAllStmt"}),
    exclusive.check_vacuum_cluster: frozenset({"VacuumStmt", "ClusterStmt"}),
    exclusive.check_lock_table: frozenset({"LockStmt"}),
    exclusive.check_held_lock: exclusive.EXCLUSIVE_KINDS,  # at the first exclusive only
    exclusive.check_timeout: exclusive.EXCLUSIVE_KINDS,
    hazards.check_robust: frozenset({"IndexStmt", "CreateStmt", "DropStmt"}),
    hazards.check_reindex: frozenset({"ReindexStmt"}),
    hazards.check_partitions: frozenset({"AlterTableStmt"}),
    hazards.check_truncate: frozenset({"TruncateStmt"}),
    hazards.check_domains: frozenset({"CreateDomainStmt", "AlterDomainStmt"}),
    hazards.check_enums: frozenset({"CreateEnumStmt", "AlterEnumStmt"}),
    hazards.check_exclusion: frozenset({"AlterTableStmt"}),
    hazards.check_columns: frozenset({"CreateStmt", "AlterTableStmt"}),
    hazards.check_other: frozenset(
        {"DropdbStmt", "UpdateStmt", "InsertStmt", "CreateStmt", "ViewStmt"}
    ),
    breaking.check_drops: frozenset({"DropStmt", "AlterTableStmt"}),
    breaking.check_renames: frozenset({"RenameStmt"}),
    security.check_tables: frozenset({"CreateStmt", "CreateTableAsStmt", "AlterTableStmt"}),
    security.check_policies: frozenset({"CreatePolicyStmt", "AlterPolicyStmt"}),
    security.check_views: frozenset({"ViewStmt", "CreateTableAsStmt"}),
    security.check_functions: frozenset({"CreateFunctionStmt"}),
}
# Checks that report only on a file's first ACCESS EXCLUSIVE statement (lint.exclusive): the
# engine gives them that statement alone, not the 10,000 others of a large file.
AT_FIRST_EXCLUSIVE = frozenset({exclusive.check_held_lock, exclusive.check_timeout})
_BY_KIND: dict[str, list[Check]] = {}
_BY_KIND_FIRST: dict[str, list[Check]] = {}


def checks_for(kind: str, *, first_exclusive: bool = True) -> list[Check]:
    """The checks that can report on a statement of this kind, in CHECKS order; those of
    AT_FIRST_EXCLUSIVE only for the file's first ACCESS EXCLUSIVE statement."""
    table = _BY_KIND_FIRST if first_exclusive else _BY_KIND
    if kind not in table:
        table[kind] = [
            c
            for c in CHECKS
            if (c not in KINDS or kind in KINDS[c])
            and (first_exclusive or c not in AT_FIRST_EXCLUSIVE)
        ]
    return table[kind]


def lint_sql(sql: str, *, path: str, known: Known | None = None) -> list[Finding]:
    """Every finding for one migration file, ordered by line.

    `known` carries what earlier files of the same run established (lint_files passes it);
    it is updated with this file's statements.
    """
    single = known is None
    known = Known() if known is None else known
    findings = _lint(read_sql(sql, lazy_rows=True), path, known)
    return _drop_indexed_foreign_keys(findings, known) if single else findings


def lint_files(
    files: Sequence[tuple[str, Source]],
    *,
    lock_timeout_off: bool = False,
    parallel: bool | None = None,
) -> list[Finding]:
    """Findings for (path, text) pairs, file by file in the order given (a history's order).

    A foreign key column counts as indexed when an index on it is created anywhere in the
    run: the index usually follows in a later file of the same change. A large run uses two
    cores (lint.parallel) unless `parallel` is False; the findings are the same. A text may
    be a Deferred one, read by the process that lints it.
    """
    known = Known(lock_timeout_off=lock_timeout_off)
    two = parallel if parallel is not None else worth_it(files)
    if two:
        reuse_freed_blocks()  # a long run: each file's big blocks serve the next (process.heap)
    with no_collector_passes():  # rules read the trees and make no cycles (see quiet_gc)
        if two:
            findings = lint_in_two(files, known, _lint_one)
        else:
            findings = [f for path, text in files for f in _lint_one(text, path, known)]
    return _drop_indexed_foreign_keys(findings, known)


def _lint_one(text: Source, path: str, known: Known) -> list[Finding]:
    return _lint(read_sql(text_of(text), lazy_rows=True), path, known)


def _lint(reading: Reading, path: str, known: Known) -> list[Finding]:
    findings = _file_findings(reading.sql, reading, path)
    migration = read_migration(reading, known)
    allows = allows_by_statement(reading.sql, reading.statements)
    by_kind = _BY_KIND
    first = exclusive.first_exclusive(migration)
    for index, statement in enumerate(reading.statements):
        kind = statement.kind
        checks: list[Check] | None = checks_for(kind) if index == first else by_kind.get(kind)
        if checks is None:
            checks = checks_for(kind, first_exclusive=False)
        if checks:  # (a comment, a grant, a trigger: most of a dump's statements have none)
            hits = [hit for check in checks for hit in check(statement, index, migration)]
            if hits or allows[index]:
                findings += _suppressed(path, hits, allows[index])
        elif allows[index]:
            findings += _suppressed(path, [], allows[index])
        if kind in LEARNT_KINDS:
            learn(known, statement)
    return sorted(findings, key=lambda finding: finding.line)


def _drop_indexed_foreign_keys(findings: list[Finding], known: Known) -> list[Finding]:
    if not known.foreign_keys:
        return findings
    skip = len(RULES[_FK_RULE].summary) + 2  # the message is "summary: hit message"

    def covered(finding: Finding) -> bool:
        site = known.foreign_keys.get(finding.message[skip:])
        return site is not None and known.covers(*site)

    return [f for f in findings if f.rule != _FK_RULE or not covered(f)]


def _file_findings(sql: str, reading: Reading, path: str) -> list[Finding]:
    hits = []
    # a file that parses has no backslash command (psql_meta_command would parse it again)
    meta = psql_meta_command(sql) if reading.error else None
    if meta:
        hits.append(Hit("psql-meta-command", meta.line, f"{meta.text} is a psql command"))
    if reading.error and not (meta and meta.line == reading.error.line):
        hits.append(Hit("syntax-error", reading.error.line, reading.error.message))
    return [_finding(path, hit) for hit in hits]


def _suppressed(path: str, hits: list[Hit], allows: list[Allow]) -> list[Finding]:
    reasons = {allow.rule: allow.reason for allow in allows if allow.reason}
    every = reasons.get(EVERY_RULE)
    findings = [_finding(path, hit, reasons.get(hit.rule, every)) for hit in hits]
    for allow in allows:
        if allow.rule == EVERY_RULE:
            continue
        if allow.rule not in RULES:
            problem = Hit("suppression-unknown-rule", allow.line, f"unknown rule {allow.rule!r}")
            findings.append(_finding(path, problem))
        elif not allow.reason:
            problem = Hit("suppression-missing-reason", allow.line, f"allow {allow.rule}")
            findings.append(_finding(path, problem))
    return findings


def _finding(path: str, hit: Hit, suppressed: str | None = None) -> Finding:
    rule = RULES[hit.rule]
    message = f"{rule.summary}: {hit.message}"
    return Finding(path, hit.line, hit.rule, rule.level, message, hit.fix or rule.fix, suppressed)
