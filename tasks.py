"""supamigrate's tasks: `invoke --list` shows them, `invoke --help NAME` explains each flag.

Tasks are thin: parse flags, call the library in src/supamigrate, print, exit. Imports of the
library happen inside tasks so `invoke --list` stays fast.
"""

from __future__ import annotations

import functools
import os
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

ROOT = Path(__file__).resolve().parent
F = TypeVar("F", bound=Callable[..., Any])
# invoke turns bytecode caching off (so no tasks.pyc lands here); it would also stop our
# package's modules, imported later inside tasks, from being cached: ~20 ms on every run.
if not os.environ.get("PYTHONDONTWRITEBYTECODE"):
    sys.dont_write_bytecode = False


def friendly(func: F) -> F:
    """Turn library errors into one masked line and their exit code (2 usage, 1 failure)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from supamigrate.errors import SupamigrateError
        from supamigrate.masking import mask

        try:
            return func(*args, **kwargs)
        except SupamigrateError as exc:
            if os.environ.get("SUPAMIGRATE_DEBUG"):
                traceback.print_exc()
            raise Exit(mask(f"FAILED: {exc}"), code=exc.exit_code) from None

    return wrapper  # type: ignore[return-value]


def _local_server() -> Any:
    from supamigrate.localdb import LocalServer

    return LocalServer(ROOT / ".supamigrate" / "local")


CONFIG_HELP = {
    "db_url": "Target database URL (default: DATABASE_URL, SUPABASE_DB_URL, .env files, local).",
    "linked": "Target the linked project (`invoke link`), password from SUPABASE_DB_PASSWORD.",
    "json": "Print one JSON document instead of human output.",
}
MIGRATE_HELP = {
    **CONFIG_HELP,
    "dry": "Show the plan and a SQL preview; execute nothing, create nothing.",
    "rehearse": "Run pending migrations in one transaction, then roll it all back.",
    "migration": "Re-run one migration even if applied: its number (001), version or name.",
    "skip_confirm": "Do not ask before applying (also implied by CI=true).",
    "continue_on_error": "After a failed migration, go on with the next one.",
    "allow_drift": "Go on even though an applied migration's file was edited since.",
    "include_all": "Also apply pending migrations older than the newest applied one.",
    "lock_timeout": "Per-migration lock_timeout, e.g. 5s (0 disables). Default 5s.",
    "statement_timeout": "Per-migration statement_timeout, e.g. 15min. Default none.",
    "method": "How to apply: auto (default), supabase, psycopg2, psql or manual.",
}


def _config(linked: bool = False, **flags: Any) -> Any:
    from supamigrate.config import load_config

    if linked and flags.get("db_url"):
        from supamigrate.errors import UsageError

        raise UsageError("Pass either --linked or --db-url, not both.")
    config = load_config(ROOT, flags=flags)
    if linked:
        from supamigrate.link import linked_config

        config = linked_config(config)
    if flags.get("db_url") and config.target.password:
        print(
            "warning: a password in --db-url is visible to other users in the process list; "
            "put the URL in DATABASE_URL or .env.secrets instead.",
            file=sys.stderr,
        )
    return config


def _banner(config: Any, out: Any) -> None:
    out.say(f"Target: {config.target.describe()} (from {config.sources['db_url']})")
    out.fact("target", config.target.masked_url)


def _executor(config: Any, method: str, out: Any) -> tuple[Any, Any]:
    """(executor, choice): the chosen method, said out loud with why others were skipped."""
    from supamigrate.errors import DatabaseUnavailable
    from supamigrate.methods import choose, pooler_notes

    choice = choose(method, config)
    _banner(config, out)
    out.say(f"Method: {choice.describe()}")
    out.fact("method", choice.name)
    for note in pooler_notes(config, choice.name):
        out.say(note)
    settings = {
        "lock_timeout": config.lock_timeout,
        "statement_timeout": config.statement_timeout,
        "connect_timeout": config.connect_timeout,
    }
    if choice.name == "psql":
        from supamigrate.executors.psql import PsqlExecutor

        return PsqlExecutor(config.target, **settings), choice
    try:
        from supamigrate.executors.psycopg2 import Psycopg2Executor

        executor = Psycopg2Executor(config.target, **settings)
        if choice.name == "manual":
            executor.wait_connected()  # manual only reads history, and works without it
    except (DatabaseUnavailable, ImportError):
        if choice.name != "manual":
            raise
        return None, choice  # manual works without a driver or a connection
    return executor, choice


def _no_connection() -> Exception:
    from supamigrate.errors import DatabaseUnavailable

    return DatabaseUnavailable("status needs a database connection; none could be made.")


def _run(as_json: bool, body: Callable[[Any], int]) -> None:
    """Run `body(reporter)`, always emit the JSON document, exit with body's code."""
    from supamigrate.output import Reporter

    out = Reporter(as_json=as_json)
    try:
        code = body(out)
    finally:
        out.finish()
    if code:
        raise Exit(code=code)


@task(help={"check": "Change nothing; exit 1 listing every stale, missing or renamed mirror."})
@friendly
def mirror(c: Context, check: bool = False) -> None:
    """Mirror migrations/NNN_name.sql into supabase/migrations/<version>_name.sql."""
    from supamigrate import runner

    _run(False, lambda out: runner.mirror(_config(), out, check=check))


@task(help={**CONFIG_HELP, "method": MIGRATE_HELP["method"]})
@friendly
def status(
    c: Context,
    db_url: str | None = None,
    linked: bool = False,
    json: bool = False,
    method: str = "auto",
) -> None:
    """List every migration: applied, pending, drifted, or missing locally."""
    from supamigrate import runner

    def body(out: Any) -> int:
        config = _config(linked, db_url=db_url)
        executor, _ = _executor(config, method, out)
        if executor is None:
            raise _no_connection()
        try:
            runner.status(config, out, executor)
        finally:
            executor.close()
        return 0

    _run(json, body)


@task(help=MIGRATE_HELP)
@friendly
def migrate(
    c: Context,
    dry: bool = False,
    rehearse: bool = False,
    migration: str | None = None,
    skip_confirm: bool = False,
    continue_on_error: bool = False,
    allow_drift: bool = False,
    include_all: bool = False,
    lock_timeout: str | None = None,
    statement_timeout: str | None = None,
    db_url: str | None = None,
    linked: bool = False,
    method: str = "auto",
    json: bool = False,
) -> None:
    """Mirror, then apply pending migrations, each in its own transaction, with a history row."""

    def body(out: Any) -> int:
        flags = {
            "db_url": db_url,
            "lock_timeout": lock_timeout,
            "statement_timeout": statement_timeout,
        }
        config = _config(linked, **flags)
        executor, choice = _executor(config, method, out)  # connects in the background
        try:
            from supamigrate import runner

            options = runner.MigrateOptions(
                dry=dry,
                rehearse=rehearse,
                migration=migration,
                skip_confirm=skip_confirm,
                continue_on_error=continue_on_error,
                allow_drift=allow_drift,
                include_all=include_all,
            )
            return runner.migrate(config, options, out, executor, choice)
        finally:
            if executor is not None:
                executor.close()

    _run(json, body)


@task(
    help={
        **CONFIG_HELP,
        "no_probe": "Skip the signup and isolation probes (they write, then roll back).",
        "strict": "Fail on warnings too (by default only errors fail; info never does).",
        "sql": "Only print verification SQL to paste into the Supabase SQL editor.",
    }
)
@friendly
def verify(
    c: Context,
    db_url: str | None = None,
    linked: bool = False,
    json: bool = False,
    no_probe: bool = False,
    sql: bool = False,
    strict: bool = False,
) -> None:
    """Check tables, RLS, counts, signups and tenant isolation, and lint the exposed schemas."""
    from supamigrate import runner
    from supamigrate.verify import VERIFY_SQL

    if sql:
        print(VERIFY_SQL)
        return

    def body(out: Any) -> int:
        config = _config(linked, db_url=db_url)
        _banner(config, out)
        return runner.verify(config, out, probe=not no_probe, strict=strict)

    _run(json, body)


@task(
    name="rollback-rls",
    help={
        **CONFIG_HELP,
        "dry": "Print the SQL only; change nothing.",
        "skip_confirm": MIGRATE_HELP["skip_confirm"],
        "table": "Roll back one table only (e.g. files).",
    },
)
@friendly
def rollback_rls(
    c: Context,
    dry: bool = False,
    skip_confirm: bool = False,
    table: str | None = None,
    db_url: str | None = None,
    linked: bool = False,
    json: bool = False,
) -> None:
    """Disable RLS and drop the 004 policies (tables, columns and data stay); one transaction."""
    from supamigrate import runner

    def body(out: Any) -> int:
        config = _config(linked, db_url=db_url)
        _banner(config, out)
        return runner.rollback_rls(config, out, table=table, dry=dry, skip_confirm=skip_confirm)

    _run(json, body)


@task(
    help={
        "project_ref": "The project's ref (20 letters in the dashboard URL). Default: from "
        "DATABASE_URL (db.<ref>.supabase.co, or pooler user postgres.<ref>).",
    }
)
@friendly
def link(c: Context, project_ref: str | None = None) -> None:
    """Link this folder to a Supabase project with the real `supabase link` (idempotent)."""
    from supamigrate import link as linking

    config = _config()
    linking.link(config, linking.derive_ref(config, project_ref), say=print)


# --- the local database -------------------------------------------------------------------


@task(name="start")
@friendly
def db_start(c: Context) -> None:
    """Start the local Supabase-like Postgres on 127.0.0.1:54322 (idempotent)."""
    from supamigrate import localdb

    print(localdb.start(_local_server()))


@task(name="stop")
@friendly
def db_stop(c: Context) -> None:
    """Stop the local Postgres (its data stays in .supamigrate/local)."""
    from supamigrate import localdb

    print(localdb.stop(_local_server()))


@task(name="status")
@friendly
def db_status(c: Context) -> None:
    """Say whether the local Postgres is running, and where."""
    from supamigrate import localdb

    server = _local_server()
    state = localdb.status(server)
    print(f"Local database: {state.detail}")
    if state.running:
        print(f"URL: {server.user_target().masked_url} (password: see `invoke db.url --help`)")


@task(name="reset")
@friendly
def db_reset(c: Context) -> None:
    """Drop and recreate the local `postgres` database: empty, with the Supabase shim."""
    from supamigrate import localdb

    print(localdb.reset(_local_server()))


@task(
    name="url", help={"show_password": "Print the real password (for `export DATABASE_URL=...`)."}
)
@friendly
def db_url(c: Context, show_password: bool = False) -> None:
    """Print the local database URL (password masked unless --show-password)."""
    target = _local_server().user_target()
    print(target.url() if show_password else target.masked_url)


db = Collection("db", db_start, db_stop, db_status, db_reset, db_url)

ns = Collection(migrate, status, mirror, verify, rollback_rls, link)
ns.add_collection(db)
