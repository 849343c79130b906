"""Orchestration for `mirror`, `status` and `migrate`: plan, show, act.

Like yoyo's commands: get the files, open the executor, read history, make the plan, show
it, ask, apply, report. Each step lives in its own module; this one only sequences them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from supamigrate import files as fs
from supamigrate import mirror as mirror_files
from supamigrate.config import Config
from supamigrate.dburl import DbTarget
from supamigrate.errors import CheckFailed, MigrationFailed, UsageError
from supamigrate.executors.base import Outcome, Result
from supamigrate.output import (
    ROLLBACK_GUIDANCE,
    Reporter,
    failure_lines,
    plan_json,
    plan_lines,
    plan_summary,
    preview_lines,
    progress_line,
    result_json,
)
from supamigrate.plan import Plan, check_runnable, make_plan, select_one
from supamigrate.sqlsplit import (
    has_sql,
    is_no_transaction,
    split_statements,
    transaction_control,
)


@dataclass(frozen=True)
class MigrateOptions:
    dry: bool = False
    rehearse: bool = False
    migration: str | None = None
    skip_confirm: bool = False
    continue_on_error: bool = False
    allow_drift: bool = False
    include_all: bool = False


# --- files -----------------------------------------------------------------------------------


def mirror(config: Config, out: Reporter, *, check: bool) -> int:
    """Write (or with check, only compare) supabase/migrations from migrations/."""
    plan = _mirror_plan(config)
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
        out.say(f"Mirror up to date: {len(plan.items)} file(s).")
        return 0
    for item in mirror_files.apply_mirror(plan):
        out.say(f"  {item.describe()}")
    out.say(f"Mirror up to date: {len(plan.items)} file(s) in {config.supabase_migrations_dir}.")
    return 0


def _mirror_plan(config: Config) -> mirror_files.MirrorPlan:
    return mirror_files.plan_mirror(
        fs.discover_sources(config.migrations_dir),
        config.supabase_migrations_dir,
        now=mirror_files.utc_now(),
        assign=not _ci(),  # in CI the committed mirror is the record: nothing new is assigned
        legacy_base=config.version_base,
    )


def collect(config: Config, out: Reporter, *, write_mirror: bool) -> list[fs.MigrationFile]:
    """The migrations to consider: supabase/migrations with the sources mirrored into it.

    Without write_mirror (dry runs, status) the mirror is applied in memory only.
    """
    plan = _mirror_plan(config)
    if write_mirror:
        for item in mirror_files.apply_mirror(plan):
            out.say(f"Mirrored {item.describe()}")
    found, warnings = mirror_files.mirrored_migrations(plan)
    for warning in warnings:
        out.warn(warning)
    return found


def check_session_needs(migrations: list[fs.MigrationFile], target: DbTarget) -> None:
    """No-transaction files take a session lock and commit in batches: not via 6543."""
    if target.connection_kind != "transaction pooler":
        return
    needy = [m.path.name for m in migrations if is_no_transaction(m.sql)]
    if needy:
        raise UsageError(
            f"{', '.join(needy)} run(s) outside a transaction and need one session, which the "
            "transaction pooler (port 6543) does not keep: use the session pooler URL (same "
            "host, port 5432) or the direct connection. Nothing was applied."
        )


def check_files(migrations: list[fs.MigrationFile]) -> None:
    """Refuse, before anything runs, empty files and files that manage their own transactions."""
    for migration in migrations:
        if not has_sql(migration.sql):
            raise UsageError(
                f"{migration.path.name} has no SQL statements (empty or only comments): write "
                "the migration, or delete the file. Nothing was applied; applying it would "
                "record it, and your later edits would count as drift."
            )
        if is_no_transaction(migration.sql):
            continue
        found = transaction_control(split_statements(migration.sql))
        if found is not None:
            first = found.text.splitlines()[0]
            raise UsageError(
                f"{migration.path.name}, line {found.line}: `{first}` controls the transaction, "
                "but supamigrate runs each file in its own transaction. Remove it, or put "
                "`-- supamigrate:no-transaction` on the first line to run the file without one."
            )


# --- status and migrate ------------------------------------------------------------------------


def status(config: Config, out: Reporter, executor: Any) -> Plan:
    migrations = collect(config, out, write_mirror=False)
    plan = make_plan(migrations, executor.read_history())
    out.fact("migrations", plan_json(plan))
    out.fact("summary", plan_summary(plan))
    out.say(f"Migrations on {config.target.describe()}:")
    for line in plan_lines(plan):
        out.say(line)
    out.say(plan_summary(plan))
    return plan


def migrate(
    config: Config, options: MigrateOptions, out: Reporter, executor: Any, method: Any = None
) -> int:
    """Apply what is pending; return the exit code (0 ok or nothing to do, 1 a failure).

    `executor` reads history and applies (psycopg2); None when no connection is possible
    (manual). `method` is the methods.Choice; supabase pushes through the real CLI.
    """
    name = method.name if method is not None else "psycopg2"
    migrations = collect(config, out, write_mirror=not options.dry)
    rows = executor.read_history() if executor is not None else []
    plan = make_plan(migrations, rows)
    if options.migration:
        plan = select_one(plan, options.migration)
    out.fact("plan", plan_json(plan))
    for line in plan_lines(plan):
        out.say(line)
    for warning in check_runnable(
        plan, allow_drift=options.allow_drift, include_all=options.include_all, root=config.root
    ):
        out.warn(warning)
    todo = list(plan.to_apply)
    check_files(todo)
    if name != "manual":
        try:
            check_session_needs(todo, config.target)
        except UsageError as exc:
            if not (options.dry or options.rehearse):
                raise
            out.warn(f"A real run would stop here: {exc}")
    if not todo:
        out.say(f"Nothing to apply: {plan_summary(plan)}.")
        out.fact("summary", {"applied": 0, "pending": 0})
        return 0
    verb = "re-run" if plan.rerun else "apply"
    out.say(f"Will {verb} {len(todo)} migration(s): {', '.join(m.label for m in todo)}")
    for migration in todo:
        if is_no_transaction(migration.sql):
            out.say(
                f"NOTE: {migration.label} runs OUTSIDE a transaction "
                "(-- supamigrate:no-transaction): a failure halfway leaves the statements "
                "before it applied."
            )
    if name == "manual":
        from supamigrate.executors.manual import instructions

        for line in instructions(todo, config.target, history_known=executor is not None):
            out.say(line)
        return 0
    if options.dry:
        _dry(todo, out)
        if name == "supabase" and not plan.rerun:
            _push(config, options, method, out, dry=True)
        return 0
    if options.rehearse:
        rehearsable = [m for m in todo if not is_no_transaction(m.sql)]
        return _report_rehearsal(executor.rehearse(rehearsable), todo, out)
    confirmed = options.skip_confirm or _ci()
    if not confirmed and not out.ask(f"Apply {len(todo)} migration(s)?", refuse_hint=_SKIP_HINT):
        raise UsageError("Cancelled: nothing was applied.")
    if name == "supabase" and plan.rerun:
        out.say("supabase db push cannot re-run an applied migration: --migration uses psycopg2.")
    if name == "supabase" and not plan.rerun:
        _push(config, options, method, out, dry=False)
        return _report_push(executor, todo, out)
    return _apply_all(executor, todo, plan, options, out)


def _push(
    config: Config, options: MigrateOptions, method: Any, out: Reporter, *, dry: bool
) -> None:
    from supamigrate.executors.supabase_cli import push

    push(
        method.cli,
        config.target,
        config.root,
        dry=dry,
        include_all=options.include_all,
        linked=config.linked,
        passthrough=dict(config.supabase_env),
        say=out.say,
    )


def _report_push(executor: Any, todo: list[fs.MigrationFile], out: Reporter) -> int:
    """After `supabase db push`: what its history says now, migration by migration."""
    applied = {row.version for row in executor.read_history()}
    missing = [m for m in todo if m.version not in applied]
    for index, migration in enumerate(todo, 1):
        state = "ok" if migration.version in applied else "not applied"
        out.say(f"[{index}/{len(todo)}] {migration.label} ... {state} (by supabase db push)")
    out.fact("results", [{"name": m.label, "applied": m.version in applied} for m in todo])
    if missing:
        raise MigrationFailed(f"{len(missing)} migration(s) not applied by supabase db push.")
    out.say(f"Done: {len(todo)} ok (supabase db push).")
    return 0


_SKIP_HINT = "pass --skip-confirm (or set CI=true) to apply without asking."


def _ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _dry(todo: list[fs.MigrationFile], out: Reporter) -> int:
    out.say("Dry run: nothing will be executed.")
    preview = []
    for migration in todo:
        out.say(f"-- {migration.label} ({migration.version})")
        lines = preview_lines(migration.sql)
        for line in lines:
            out.say(line)
        preview.append(
            {"name": migration.label, "statements": len(split_statements(migration.sql))}
        )
    out.fact("dry_run", preview)
    return 0


def _report_rehearsal(results: list[Result], todo: list[fs.MigrationFile], out: Reporter) -> int:
    out.say("Rehearsal: every migration ran in one transaction that was then rolled back.")
    for index, result in enumerate(results, 1):
        out.say(progress_line(index, len(results), result))
        for line in failure_lines(result):
            out.say(line)
    skipped = [m for m in todo if is_no_transaction(m.sql)]
    for migration in skipped:
        out.say(f"  {migration.label}: not rehearsable (runs outside a transaction)")
    out.fact("rehearsal", [result_json(r) for r in results])
    failed = any(r.outcome is not Outcome.OK for r in results)
    out.say(
        "Rehearsal failed: nothing was changed."
        if failed
        else "Rehearsal passed: nothing was changed."
    )
    return 1 if failed else 0


def _apply_all(
    executor: Any, todo: list[fs.MigrationFile], plan: Plan, options: MigrateOptions, out: Reporter
) -> int:
    if hasattr(executor, "apply_batch"):  # psql: one process for the whole run
        return _apply_batch(executor, todo, plan, options, out)
    results: list[Result] = []
    for index, migration in enumerate(todo, 1):
        result = executor.apply(migration, rerun=plan.rerun)
        results.append(result)
        out.say(progress_line(index, len(todo), result))
        for notice in result.notices:
            out.say(f"  {notice}")
        if result.outcome in (Outcome.FAILED, Outcome.PARTIAL):
            for line in failure_lines(result):
                out.say(line)
            if index < len(todo) and not _continue(options, out):
                break
    out.fact("results", [result_json(r) for r in results])
    return _summarise(results, len(todo), out)


def _apply_batch(
    executor: Any, todo: list[fs.MigrationFile], plan: Plan, options: MigrateOptions, out: Reporter
) -> int:
    results: list[Result] = []
    remaining = list(todo)
    while remaining:

        def show(result: Result) -> None:
            out.say(progress_line(len(results) + 1, len(todo), result))
            for notice in result.notices:
                out.say(f"  {notice}")
            for line in failure_lines(result):
                out.say(line)
            results.append(result)

        batch = executor.apply_batch(remaining, rerun=plan.rerun, on_result=show)
        remaining = remaining[len(batch) :]
        failed = batch and batch[-1].outcome in (Outcome.FAILED, Outcome.PARTIAL)
        if not failed or not remaining or not _continue(options, out):
            break
    out.fact("results", [result_json(r) for r in results])
    return _summarise(results, len(todo), out)


def _continue(options: MigrateOptions, out: Reporter) -> bool:
    if options.continue_on_error:
        out.say("Continuing with the next migration (--continue-on-error).")
        return True
    out.say(ROLLBACK_GUIDANCE)
    try:
        return out.ask("Continue with the next migration?", refuse_hint="stopping here.")
    except UsageError:
        return False


def _summarise(results: list[Result], total: int, out: Reporter) -> int:
    counts = {o: sum(r.outcome is o for r in results) for o in Outcome}
    not_run = total - len(results)
    total_ms = sum(r.ms for r in results)
    parts = [f"{n} {o.value}" for o, n in counts.items() if n] + [f"{not_run} not run"] * bool(
        not_run
    )
    out.say(f"Done in {total_ms:.0f} ms: {', '.join(parts)}.")
    out.fact(
        "summary",
        {o.value: n for o, n in counts.items()} | {"not_run": not_run, "ms": round(total_ms, 1)},
    )
    bad = counts[Outcome.FAILED] + counts[Outcome.PARTIAL]
    if bad:
        raise MigrationFailed(f"{bad} migration(s) failed; see above.")
    return 0


# --- verify and rollback-rls ------------------------------------------------------------------


def verify(config: Config, out: Reporter, *, probe: bool) -> int:
    """Run every check in one transaction that is rolled back; 1 if any fails."""
    from supamigrate.db import session
    from supamigrate.verify import run_checks

    with session(config.target, connect_timeout=config.connect_timeout) as conn:
        try:
            with conn.cursor() as cur:
                checks = run_checks(cur, probe=probe)
        finally:
            conn.rollback()  # verify never changes anything, the probe included
    width = max(len(c.name) for c in checks)
    for check in checks:
        out.say(f"  {'PASS' if check.ok else 'FAIL'}  {check.name:<{width}}  {check.detail}")
        if not check.ok and check.fix:
            out.say(f"        fix: {check.fix}")
    failed = [c for c in checks if not c.ok]
    out.fact("checks", [c.__dict__ for c in checks])
    out.say(f"{len(checks) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


def rollback_rls(
    config: Config, out: Reporter, *, table: str | None, dry: bool, skip_confirm: bool
) -> int:
    from supamigrate.db import session
    from supamigrate.rollback import RLS_MIGRATION_NAME, apply_rollback, plan_rollback

    migrations = collect(config, out, write_mirror=False)
    version = next((m.version for m in migrations if m.name == RLS_MIGRATION_NAME), None)
    with session(config.target, connect_timeout=config.connect_timeout) as conn:
        with conn.cursor() as cur:
            plan = plan_rollback(cur, table=table, rls_version=version)
        if plan.empty:
            out.say("Nothing to roll back: RLS is already off and the 004 policies are gone.")
            return 0
        out.say("This keeps tables, columns and data; it removes tenant isolation:")
        for line in plan.sql().splitlines():
            out.say(f"  {line}")
        out.fact("sql", plan.sql())
        if dry:
            conn.rollback()
            out.say("Dry run: nothing was changed.")
            return 0
        confirmed = skip_confirm or _ci()
        if not confirmed and not out.ask("Disable RLS as above?", refuse_hint=_SKIP_HINT):
            raise UsageError("Cancelled: nothing was changed.")
        with conn.cursor() as cur:
            apply_rollback(cur, plan, lock_timeout=config.lock_timeout)
    out.say("RLS rolled back. Re-enable it with `invoke migrate`.")
    return 0
