"""The plan: what is applied, pending, drifted or missing, and what a run would apply.

A plain value computed from files and history rows; `status`, `migrate --dry` and `migrate`
all print and reuse it. It knows nothing of connections.
"""

from __future__ import annotations

from enum import Enum
from operator import attrgetter
from pathlib import Path
from typing import NamedTuple

from supamigrate.brief import FIRST, few, one_line
from supamigrate.errors import CheckFailed, UsageError
from supamigrate.history.table import HistoryRow, matches_file
from supamigrate.project.files import MigrationFile


class State(Enum):
    APPLIED = "applied"
    PENDING = "pending"
    DRIFTED = "drifted"  # applied, but the file changed since
    MISSING_LOCALLY = "missing locally"  # in history, no file


class Entry(NamedTuple):  # not a frozen dataclass: one per migration on every run
    version: str
    label: str
    state: State
    file: MigrationFile | None
    row: HistoryRow | None


class Plan(NamedTuple):  # not a frozen dataclass: ~0.7 ms less at import
    entries: tuple[Entry, ...]
    to_apply: tuple[MigrationFile, ...]
    rerun: bool = False  # --migration: the one file is re-run even though applied
    chosen: bool = False  # --migration: named by the user, so its place in the order is no surprise

    def with_state(self, state: State) -> list[Entry]:
        return [e for e in self.entries if e.state is state]

    @property
    def newest_applied(self) -> str | None:
        applied = [e.version for e in self.entries if e.row is not None]
        return max(applied) if applied else None


def make_plan(files: list[MigrationFile], rows: list[HistoryRow]) -> Plan:
    by_version = {row.version: row for row in rows}
    entries: list[Entry] = []
    # Looked up once, not per file: 10,000 files on a big project's run.
    pending, applied, drifted, take = State.PENDING, State.APPLIED, State.DRIFTED, by_version.pop
    for file in files:
        row = take(file.version, None)
        if row is None:
            state = pending
        elif row.digest is not None:  # _same, inlined
            state = applied if row.digest == file.text_digest else drifted
        else:
            state = applied if matches_file(row, file.sql) else drifted
        entries.append(_tuple(Entry, (file.version, file.label, state, file, row)))
    for row in by_version.values():
        label = f"{row.version}_{row.name}" if row.name else row.version
        entries.append(Entry(row.version, label, State.MISSING_LOCALLY, None, row))
    entries.sort(key=_VERSION)
    to_apply = tuple(e.file for e in entries if e.state is pending and e.file)
    return Plan(tuple(entries), to_apply)


_VERSION = attrgetter("version")
# A named tuple made by tuple.__new__, not its generated Python __new__: ~0.2 us less each,
# for what is made per migration on every run (10,000 at a time). The fields go in order.
_tuple = tuple.__new__


def _same(row: HistoryRow, file: MigrationFile) -> bool:
    """history.matches_file, by the digest the stat cache kept when it can (no file read)."""
    if row.digest is not None:
        return row.digest == file.text_digest
    return matches_file(row, file.sql)


def select_one(plan: Plan, wanted: str) -> Plan:
    """--migration: one file by NNN, version, name or label, re-run even if applied."""
    key = wanted.strip().removesuffix(".sql")
    if not key:  # a blank CI input must not mean "every pending migration"
        raise UsageError("--migration is empty: name one migration (its number, version or name).")
    matches = [
        e
        for e in plan.entries
        if e.file is not None and key in _names(e.file) | ({e.label} if e.label else set())
    ]
    if not matches:
        raise UsageError(
            f"No migration matches {one_line(repr(wanted), limit=80)}: use its number (001), "
            "version, or name; "
            "`invoke status` lists them."
        )
    if len(matches) > 1:
        labels = few(e.label for e in matches)
        shown = one_line(repr(wanted), limit=80)
        raise UsageError(f"{shown} matches several migrations ({labels}): be more specific.")
    entry = matches[0]
    assert entry.file is not None
    return Plan(plan.entries, (entry.file,), rerun=entry.row is not None, chosen=True)


def _names(file: MigrationFile) -> set[str]:
    names = {file.version, file.name, file.label, file.path.stem}
    number = file.label.split("_", 1)[0]
    if number.isdigit() and number != file.version:
        names |= {number, str(int(number))}
    return names


def check_runnable(
    plan: Plan, *, allow_drift: bool, include_all: bool, root: Path | None = None
) -> list[str]:
    """Refuse, before anything runs, where the CLI would refuse (and on drift).

    Returns the warnings to print when the run goes on (drift passed over by --allow-drift).
    `root` is the project, asked (git) where an edit came from; None: no git advice.
    """
    missing = plan.with_state(State.MISSING_LOCALLY)
    if missing:
        raise CheckFailed(missing_advice(plan))
    drifted = plan.with_state(State.DRIFTED)
    if drifted and not allow_drift:
        raise CheckFailed(drift_advice(drifted, root))
    newest = plan.newest_applied
    late = [f for f in plan.to_apply if newest and f.version < newest and not plan.chosen]
    if late and not include_all:
        labels = few(f.label for f in late)
        raise CheckFailed(
            f"Pending migration(s) older than the newest applied one ({newest}): {labels}. "
            "Pass --include-all to apply them anyway (as `supabase db push --include-all`), or "
            "name one with `invoke migrate --migration <number>`. Either way, a replay of the "
            "history (`supabase db reset`, a branch, a new environment) runs them in version "
            "order, before the newer one: if they need what it made, give them newer versions."
        )
    return drift_skipped(drifted) if drifted and not plan.rerun else []


# --- advice: plain text, one function per situation ---------------------------------------------


class EditOrigin(Enum):
    UNCOMMITTED = "uncommitted"  # the working tree differs from git's last commit of the file
    UNTRACKED = "untracked"  # git has never seen the file (`supabase migration new` makes these)
    COMMITTED = "committed"  # the edit is in a commit
    NO_GIT = "no git"  # not a git repository, or git is not installed


def edit_origin(root: Path, path: Path) -> tuple[EditOrigin, str]:
    """Where an edit to `path` lives, and the last commit touching it ("" if none).

    Local git only (status, log): no network, no change to the repository.
    """
    status = _git(root, "status", "--porcelain", "--", str(path))
    if status is None:
        return EditOrigin.NO_GIT, ""
    last = _git(root, "log", "-1", "--format=%h %s", "--", str(path)) or ""
    if status.startswith("??"):
        return EditOrigin.UNTRACKED, ""
    if status.strip():
        return EditOrigin.UNCOMMITTED, last.strip()
    return EditOrigin.COMMITTED, last.strip()


def _git(root: Path, *args: str) -> str | None:
    import subprocess  # here: only drift advice runs git (5 ms of every command's start-up)

    try:
        done = subprocess.run(
            ["git", "-C", str(root), *args],
            capture_output=True,
            text=True,
            timeout=10,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def drift_advice(drifted: list[Entry], root: Path | None) -> str:
    """Why the run stops on edited applied migrations, and what to do, edit by edit."""
    labels = few(e.label for e in drifted)
    lines = [f"Applied migration(s) edited since they ran: {labels}. What to do:"]
    for entry in drifted[:FIRST]:  # advice for the first few (a git call each), not 10,000
        lines.append(f"{entry.label}: {_one_drift(entry, root)}")
    if len(drifted) > FIRST:
        lines.append(f"(and {len(drifted) - FIRST:,} more: `invoke status` lists them all)")
    lines.append(
        "A migration runs once: an edit to an applied one never reaches the database. Or pass "
        "--allow-drift to go on without it."
    )
    return " ".join(lines)  # errors are one line (the CLI contract)


def _one_drift(entry: Entry, root: Path | None) -> str:
    assert entry.file is not None
    path = entry.file.path
    shown = path.relative_to(root) if root and path.is_relative_to(root) else path
    origin, last = edit_origin(root, path) if root else (EditOrigin.NO_GIT, "")
    if origin is EditOrigin.UNCOMMITTED:
        return (
            f"the edit is not committed (`git diff {shown}` shows it). Undo it with "
            f"`git restore {shown}` and put the change in a NEW migration."
        )
    if origin is EditOrigin.UNTRACKED:
        return (
            f"{shown} is not in git yet, so git cannot show or undo the edit: put it back as it "
            "ran, and put the change in a NEW migration (then commit both)."
        )
    if origin is EditOrigin.COMMITTED:
        since = f" (last commit: {last})" if last else ""
        return (
            f"the edit is committed{since}. Write a NEW migration with the change, and put "
            f"{shown} back as it ran (`git log -p -- {shown}` shows the edit)."
        )
    return (
        f"{shown} differs from what ran (no git history to compare). Put it back as it ran, "
        "and put the change in a NEW migration."
    )


def drift_skipped(drifted: list[Entry]) -> list[str]:
    """With --allow-drift: which edits the database does NOT get, and how to re-run one."""
    return [
        f"{e.label} was edited since it ran; the edit is NOT applied (--allow-drift). "
        f"`invoke migrate --migration {_key(e)}` re-runs the whole file, if it is safe to run "
        "twice."
        for e in drifted
    ]


def _key(entry: Entry) -> str:
    number = entry.label.split("_", 1)[0]
    return number if number.isdigit() and number != entry.version else entry.version


def missing_advice(plan: Plan) -> str:
    """History versions with no file. The advice never leads to running a migration twice:
    the likeliest cause is the same migration under a new version (a lost mirror file)."""
    pending = [e for e in plan.entries if e.state is State.PENDING and e.file is not None]
    missing = plan.with_state(State.MISSING_LOCALLY)
    lines = [
        f"The database's history has {len(missing):,} migration(s) with no file in "
        f"supabase/migrations: {few(e.label for e in missing)}."
    ]
    for entry in missing[:FIRST]:  # advice for the first few, not a paragraph per version
        assert entry.row is not None
        twin = _twin(entry.row, pending)
        lines.append(f"{entry.label}: {_one_missing(entry.version, entry.row, twin)}")
    if len(missing) > FIRST:
        lines.append(f"(and {len(missing) - FIRST:,} more: `invoke status` lists them all)")
    return " ".join(lines)  # errors are one line (the CLI contract)


def _twin(row: HistoryRow, pending: list[Entry]) -> Entry | None:
    """A pending file that is the same migration: same statements, or else the same name."""
    if not row.statements:  # rows with no statements match anything: compare names only
        same: list[Entry] = []
    else:
        same = [e for e in pending if e.file is not None and _same(row, e.file)]
    named = [e for e in pending if e.file is not None and row.name and e.file.name == row.name]
    found = same or named
    return found[0] if found else None


def _one_missing(version: str, row: HistoryRow, twin: Entry | None) -> str:
    if twin is not None and twin.file is not None:
        same = row.statements and _same(row, twin.file)
        how = "the same statements" if same else "the same name"
        return (
            f"{twin.label} (version {twin.version}) has {how}: it is probably this migration "
            f"under a new version, and applying it would run it a second time. Nothing was "
            f"applied. Give it back its version: rename its file in supabase/migrations to "
            f"{version}_{twin.file.name}.sql (and its line in supabase/supamigrate-mirror.txt)."
        )
    return (
        f"it already ran. If its file was lost (deleted, or renamed, renumbered and edited all "
        f"at once), restore it from git (`git log --all -- 'supabase/migrations/{version}_*'`). "
        f"Only if it was removed on purpose and no local file holds the same change: "
        f"`supabase migration repair --status reverted {version}`."
    )
