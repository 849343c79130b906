"""The plan: what is applied, pending, drifted or missing, and what a run would apply.

A plain value computed from files and history rows; `status`, `migrate --dry` and `migrate`
all print and reuse it. It knows nothing of connections.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from supamigrate.errors import CheckFailed, UsageError
from supamigrate.files import MigrationFile
from supamigrate.history import HistoryRow, matches_file


class State(Enum):
    APPLIED = "applied"
    PENDING = "pending"
    DRIFTED = "drifted"  # applied, but the file changed since
    MISSING_LOCALLY = "missing locally"  # in history, no file


@dataclass(frozen=True)
class Entry:
    version: str
    label: str
    state: State
    file: MigrationFile | None
    row: HistoryRow | None


@dataclass(frozen=True)
class Plan:
    entries: tuple[Entry, ...]
    to_apply: tuple[MigrationFile, ...]
    rerun: bool = False  # --migration: the one file is re-run even though applied

    def with_state(self, state: State) -> list[Entry]:
        return [e for e in self.entries if e.state is state]

    @property
    def newest_applied(self) -> str | None:
        applied = [e.version for e in self.entries if e.row is not None]
        return max(applied) if applied else None


def make_plan(files: list[MigrationFile], rows: list[HistoryRow]) -> Plan:
    by_version = {row.version: row for row in rows}
    entries = []
    for file in files:
        row = by_version.pop(file.version, None)
        if row is None:
            state = State.PENDING
        else:
            state = State.APPLIED if matches_file(row, file.sql) else State.DRIFTED
        entries.append(Entry(file.version, file.label, state, file, row))
    for row in by_version.values():
        label = f"{row.version}_{row.name}" if row.name else row.version
        entries.append(Entry(row.version, label, State.MISSING_LOCALLY, None, row))
    entries.sort(key=lambda e: e.version)
    pending = tuple(e.file for e in entries if e.state is State.PENDING and e.file)
    return Plan(tuple(entries), pending)


def select_one(plan: Plan, wanted: str) -> Plan:
    """--migration: one file by NNN, version, name or label, re-run even if applied."""
    key = wanted.strip().removesuffix(".sql")
    matches = [
        e
        for e in plan.entries
        if e.file is not None and key in _names(e.file) | ({e.label} if e.label else set())
    ]
    if not matches:
        raise UsageError(
            f"No migration matches {wanted!r}: use its number (001), version, or name; "
            "`invoke status` lists them."
        )
    if len(matches) > 1:
        labels = ", ".join(e.label for e in matches)
        raise UsageError(f"{wanted!r} matches several migrations ({labels}): be more specific.")
    entry = matches[0]
    assert entry.file is not None
    return Plan(plan.entries, (entry.file,), rerun=entry.row is not None)


def _names(file: MigrationFile) -> set[str]:
    names = {file.version, file.name, file.label, file.path.stem}
    number = file.label.split("_", 1)[0]
    if number.isdigit() and number != file.version:
        names |= {number, str(int(number))}
    return names


def check_runnable(plan: Plan, *, allow_drift: bool, include_all: bool) -> None:
    """Refuse, before anything runs, where the CLI would refuse (and on drift)."""
    missing = plan.with_state(State.MISSING_LOCALLY)
    if missing:
        versions = " ".join(e.version for e in missing)
        raise CheckFailed(
            f"The database's history has migration(s) with no local file: {versions}. "
            "Restore the file(s) from git, or if they were deliberately removed, run "
            f"`supabase migration repair --status reverted {versions}`."
        )
    drifted = plan.with_state(State.DRIFTED)
    if drifted and not allow_drift:
        labels = ", ".join(e.label for e in drifted)
        raise CheckFailed(
            f"Applied migration(s) edited since they ran: {labels}. Put a new migration in "
            "place of the edit (restore the file from git), or pass --allow-drift to go on."
        )
    newest = plan.newest_applied
    late = [f for f in plan.to_apply if newest and f.version < newest and not plan.rerun]
    if late and not include_all:
        labels = ", ".join(f.label for f in late)
        raise CheckFailed(
            f"Pending migration(s) older than the newest applied one ({newest}): {labels}. "
            "Pass --include-all to apply them anyway (as `supabase db push --include-all`)."
        )
