"""The commands `mirror`, `status` and `migrate`: each sequences library calls, like yoyo's.

Get the files, open the method, read history, make the plan, refuse before anything runs,
show, ask, apply, report. Every step lives in its own module; this one only sequences them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from supamigrate.brief import few
from supamigrate.errors import CheckFailed, DatabaseUnavailable, UsageError
from supamigrate.executors.base import Executor, Settings
from supamigrate.executors.boundary_guard import guard_from
from supamigrate.executors.registry import Needs, choose
from supamigrate.executors.results import Outcome, Result
from supamigrate.history.digests import DIGESTS_NAME, recorded_row, save_digests
from supamigrate.history.table import HistoryRow
from supamigrate.output import Reporter, plan_json, plan_lines, plan_summary
from supamigrate.process import leave
from supamigrate.process.quiet_gc import no_collector_passes
from supamigrate.project import files as fs
from supamigrate.project import mirror as mirror_files
from supamigrate.project.plan import Plan, make_plan, select_one
from supamigrate.project.statcache import CACHE_NAME, StatCache
from supamigrate.run import preflight
from supamigrate.run.config import Config
from supamigrate.sql.sqlsplit import is_no_transaction, statements_text

SKIP_HINT = "pass --skip-confirm (or set CI=true) to apply without asking."


@dataclass(frozen=True)
class MigrateOptions:
    dry: bool = False
    rehearse: bool = False
    migration: str | None = None
    skip_confirm: bool = False
    continue_on_error: bool = False
    allow_drift: bool = False
    include_all: bool = False

    def __post_init__(self) -> None:
        """Flags that cannot mean anything are refused before anything connects."""
        if self.dry and self.rehearse:
            raise UsageError(
                "--dry and --rehearse together: --dry shows the plan and runs nothing, "
                "--rehearse runs everything and rolls it back; pass one of them."
            )
        if self.continue_on_error and self.rehearse:
            raise UsageError(
                "--continue-on-error and --rehearse together: a rehearsal stops where the real "
                "run would stop (the files after a failure are listed as not rehearsed); "
                "pass one of them."
            )
        if self.migration is not None and not self.migration.strip():
            raise UsageError(
                "--migration is empty: name one migration (its number, version or name), or "
                "leave the flag out to apply every pending one."
            )

    @property
    def needs(self) -> Needs:
        return Needs(
            rehearse=self.rehearse,
            rerun=self.migration is not None,
            applies=True,
            go_on=self.continue_on_error,
        )


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def banner(config: Config, out: Reporter) -> None:
    out.say(f"Target: {config.target.describe()} (from {config.sources['db_url']})")
    out.fact("target", config.target.masked_url)


def settings_for(config: Config, out: Reporter) -> Settings:
    return Settings(
        target=config.target,
        root=config.root,
        supabase_dir=config.supabase_dir,
        lock_timeout=config.lock_timeout,
        statement_timeout=config.statement_timeout,
        rehearse_limit=config.rehearse_limit,
        connect_timeout=config.connect_timeout,
        linked=config.linked,
        passthrough=dict(config.supabase_env),
        environ=dict(os.environ),
        say=out.say,
        on_notice=out.notice,
    )


def open_method(config: Config, requested: str, needs: Needs, out: Reporter) -> Executor:
    """Choose the method, say which and why, and open it (psycopg2 connects meanwhile)."""
    settings = settings_for(config, out)
    choice = choose(requested, config.methods, settings, needs)
    banner(config, out)
    out.say(f"Method: {choice.describe()}")
    out.fact("method", choice.name)
    for note in connection_notes(config) + choice.method.notes(settings):
        out.say(note)
    return choice.open(settings)


def connection_notes(config: Config) -> list[str]:
    """What the connection kind means for this run, said before anything runs."""
    kind = config.target.connection_kind
    if kind == "session pooler":
        return [
            "Connection: Supabase session pooler (port 5432): one server connection for the "
            "whole run, like a direct connection; every method works through it."
        ]
    if kind != "transaction pooler":
        return []
    return [
        "Connection: Supabase transaction pooler (port 6543): each transaction may land on a "
        "different server connection. psycopg2 and psql work through it (each migration is one "
        "transaction holding its own lock, no prepared statements, no session settings kept); "
        "files marked -- supamigrate:no-transaction need the session pooler (port 5432)."
    ]


# --- files -----------------------------------------------------------------------------------


def mirror(config: Config, out: Reporter, *, check: bool) -> int:
    """Write (or with check, only compare) supabase/migrations from migrations/."""
    cache = stat_cache(config, keep=not check)  # --check changes nothing
    plan = _mirror_plan(config, cache)
    cache.save()
    out.fact("mirror", [{"file": i.describe(), "state": i.state.value} for i in plan.items])
    if check:
        changes = plan.changes()
        for line in changes:
            out.say(f"  {line}")
        if changes:
            raise CheckFailed(
                f"{len(changes)} mirror change(s) pending in {config.supabase_migrations_dir}: "
                "run `invoke mirror` and commit the result."
            )
        out.say(f"Mirror up to date: {_mirrored(plan)} mirrored file(s).")
        return 0
    for item in mirror_files.apply_mirror(plan):
        out.say(f"  {item.describe()}")
    where = config.supabase_migrations_dir
    out.say(f"Mirror up to date: {_mirrored(plan)} mirrored file(s) in {where}.")
    return 0


def _mirrored(plan: mirror_files.MirrorPlan) -> int:
    """Sources with a mirror file (an orphan just removed is not one)."""
    return sum(1 for item in plan.items if item.source is not None)


def _temp(config: Config) -> Path | None:
    """supabase/.temp, where the caches live, if the Supabase CLI made it (any `supabase`
    command does; `supabase init` git-ignores it). supamigrate never makes it: a repository
    that never ran the CLI gains no file."""
    temp = config.supabase_dir / ".temp"
    return temp if temp.is_dir() else None


def stat_cache(config: Config, *, keep: bool = True) -> StatCache:
    """The stat cache (statcache.py); `keep=False`, or no supabase/.temp: used, never written."""
    temp = _temp(config)
    if temp is None:
        return StatCache.off()
    cache = StatCache.load(temp / CACHE_NAME)
    return cache if keep else cache.read_only()


def _remember(config: Config, rows: list[HistoryRow]) -> None:
    """The rows' digests for the next run (history_digests), beside the stat cache."""
    temp = _temp(config)
    if temp is not None:
        save_digests(temp / DIGESTS_NAME, rows)


def _mirror_plan(config: Config, cache: StatCache) -> mirror_files.MirrorPlan:
    """migrations/NNN_name.sql (none in a repo that only has supabase/migrations) mirrored."""
    directory = config.migrations_dir
    sources = fs.discover_sources(directory, cache) if directory else []
    return mirror_files.plan_mirror(
        sources,
        config.supabase_migrations_dir,
        now=mirror_files.utc_now(),
        assign=not in_ci(),  # in CI the committed mirror is the record: nothing new is assigned
        legacy_base=config.version_base,
        cache=cache,
    )


def collect(
    config: Config, out: Reporter, *, write_mirror: bool, unread: bool = False
) -> list[fs.MigrationFile]:
    """The migrations to consider: supabase/migrations with the sources mirrored into it.

    Without write_mirror (dry runs, status) the mirror is applied in memory only. With
    `unread`, supabase/migrations' own files are read when their text is first asked for.
    """
    found, plan = _collect(config, out, unread=unread)
    if write_mirror:
        _write_mirror(plan, out)
    return found


def _collect(
    config: Config, out: Reporter, *, keep_cache: bool = True, unread: bool = False
) -> tuple[list[fs.MigrationFile], mirror_files.MirrorPlan]:
    cache = stat_cache(config, keep=keep_cache)
    plan = _mirror_plan(config, cache)
    found, warnings = mirror_files.mirrored_migrations(plan, unread=unread)
    cache.save()  # now, within moments of the reads it remembers (statcache: racy writes)
    for warning in warnings:
        out.warn(warning)
    return found, plan


def _write_mirror(plan: mirror_files.MirrorPlan, out: Reporter) -> None:
    for item in mirror_files.apply_mirror(plan):
        out.say(f"Mirrored {item.describe()}")


# --- status and migrate ------------------------------------------------------------------------


def status(config: Config, out: Reporter, executor: Executor) -> Plan:
    with no_collector_passes():
        migrations = collect(config, out, write_mirror=False)
        rows = executor.read_history()
        if rows is None:
            raise DatabaseUnavailable("status needs a database connection; none could be made.")
        _remember(config, rows)
        plan = make_plan(migrations, rows)
        leave.keep(migrations, rows, plan)  # freed by the exit, not one by one on return
    out.fact("migrations", plan_json(plan))
    out.fact("summary", plan_summary(plan))
    out.say(f"Migrations on {config.target.describe()}:")
    out.say_lines(plan_lines(plan))
    out.say(plan_summary(plan))
    return plan


def migrate(config: Config, options: MigrateOptions, out: Reporter, executor: Executor) -> int:
    """Apply what is pending; return the exit code (0 ok or nothing to do, 1 a failure)."""
    with no_collector_passes():
        # --dry and --rehearse write nothing, not even the git-ignored stat cache.
        keep = not (options.dry or options.rehearse)
        migrations, mirror_plan = _collect(config, out, keep_cache=keep)
        rows = executor.read_history() or []
        if keep:
            _remember(config, rows)
        plan = make_plan(migrations, rows)
        leave.keep(migrations, mirror_plan, rows, plan)  # freed by the exit, not one by one
    if options.migration is not None:
        plan = select_one(plan, options.migration)
    if out.as_json:  # 10,000 dicts nobody reads otherwise
        out.fact("plan", plan_json(plan))
    out.say_lines(plan_lines(plan, brief=True))
    todo = _refusals(config, options, plan, executor, out)
    executor.guard_from = guard_from(rows, todo)  # new tenant tables bounded where 005 ran
    # Only once nothing refused (a refused run writes no file either), and never for a dry run
    # or a rehearsal: they change nothing, in the database or the working tree.
    if not (options.dry or options.rehearse):
        _write_mirror(mirror_plan, out)
    if not todo:
        out.say(f"Nothing to apply: {plan_summary(plan)}.")
        out.fact("summary", {"applied": 0, "pending": 0})
        return 0
    _announce(plan, todo, out)
    from supamigrate.run.apply import apply_all, rehearse  # only with something to apply

    if not executor.capabilities.executes:
        for line in executor.instructions(todo):
            out.say(line)
        return 0
    if options.dry:
        _dry(todo, out)
        executor.preview(todo)
        return 0
    if options.rehearse:
        return rehearse(executor, todo, out)
    confirmed = options.skip_confirm or in_ci()
    if not confirmed and not out.ask(f"Apply {len(todo)} migration(s)?", refuse_hint=SKIP_HINT):
        raise UsageError("Cancelled: nothing was applied.")
    recorded: list[HistoryRow] = []  # the rows this run writes: the next need not fetch them

    def remember(result: Result) -> None:  # as each ends: its split is still cached then
        file = result.migration
        if result.outcome is Outcome.OK:
            row = recorded_row(file.version, file.name, statements_text(file.sql))
            if row is not None:
                recorded.append(row)

    try:
        return apply_all(
            executor,
            todo,
            rerun=plan.rerun,
            continue_on_error=options.continue_on_error,
            out=out,
            on_result=remember,
        )
    finally:
        _remember(config, [*rows, *recorded])


def _refusals(
    config: Config, options: MigrateOptions, plan: Plan, executor: Executor, out: Reporter
) -> list[fs.MigrationFile]:
    """Every pre-flight check for this run; the migrations to apply when all pass."""
    for warning in preflight.check_plan(
        plan, allow_drift=options.allow_drift, include_all=options.include_all, root=config.root
    ):
        out.warn(warning)
    todo = list(plan.to_apply)
    preflight.check_files(todo)
    preflight.check_method(executor, todo, rehearse=options.rehearse)
    if executor.capabilities.executes:
        try:
            preflight.check_session_needs(todo, config.target)
        except UsageError as exc:
            if not (options.dry or options.rehearse):
                raise
            out.warn(f"A real run would stop here: {exc}")
    return todo


def _announce(plan: Plan, todo: list[fs.MigrationFile], out: Reporter) -> None:
    verb = "re-run" if plan.rerun else "apply"
    out.say(f"Will {verb} {len(todo)} migration(s): {few((m.label for m in todo), first=20)}")
    for migration in todo:
        if is_no_transaction(migration.sql):
            out.say(
                f"NOTE: {migration.label} runs OUTSIDE a transaction "
                "(-- supamigrate:no-transaction): a failure halfway leaves the statements "
                "before it applied."
            )


def _dry(todo: list[fs.MigrationFile], out: Reporter) -> None:
    """Per file what a person can read (preview.py), not every statement of a 50 MB file."""
    from supamigrate.run.preview import FilePreview

    out.say("Dry run: nothing will be executed.")
    previews = [FilePreview.of(migration) for migration in todo]
    out.say_lines([line for preview in previews for line in preview.lines()])
    out.fact("dry_run", [preview.json() for preview in previews])
