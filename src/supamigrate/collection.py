"""The Invoke collection: every supamigrate task, for `invoke` in this repo and `supamigrate`.

Tasks are thin: parse flags, load the config for the project found from the current folder
upward, call one command, exit with its code. Library imports happen inside tasks so
`--list` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from invoke.collection import Collection
from invoke.context import Context
from invoke.tasks import task

from supamigrate.edge import _config, _local_server, _run, _shown
from supamigrate.edge import friendly as friendly
from supamigrate.flagcheck import in_range, refuse_blank  # tiny: no library imports

if TYPE_CHECKING:
    from supamigrate.output import Reporter


CONFIG_HELP = {
    "db_url": "Target database URL (default: DATABASE_URL, SUPABASE_DB_URL, .env files, local).",
    "linked": "Target the linked project (`invoke link`), password from SUPABASE_DB_PASSWORD.",
    "json": "Print one JSON document instead of human output.",
}
# Kept apart from CONFIG_HELP: a task that takes CONFIG_HELP without a `target` parameter
# would make Invoke refuse the whole collection (help for a flag that does not exist).
TARGET_HELP = {
    "target": "Target a named target of pyproject.toml [tool.supamigrate.targets] (e.g. staging)."
}
MIGRATE_HELP = {
    **CONFIG_HELP,
    **TARGET_HELP,
    "dry": "Show the plan and a SQL preview; execute nothing, create nothing.",
    "rehearse": "Run pending migrations in one transaction, then roll it all back.",
    "migration": "Re-run one migration even if applied: its number (001), version or name.",
    "skip_confirm": "Do not ask before applying (also implied by CI=true).",
    "continue_on_error": "After a failed migration, go on with the next one.",
    "allow_drift": "Go on even though an applied migration's file was edited since.",
    "include_all": "Also apply pending migrations older than the newest applied one.",
    "lock_timeout": "Per-migration lock_timeout, e.g. 5s (0 disables). Default 5s.",
    "statement_timeout": "Per-migration statement_timeout, e.g. 15min. Default none.",
    "rehearse_limit": "--rehearse: how long it may keep the app waiting on a lock (default 2s;"
    " 0: no bound).",
    "method": "How to apply: auto (default), supabase, psycopg2, psql or manual.",
}


@task(help={"check": "Change nothing; exit 1 listing every stale, missing or renamed mirror."})
@friendly
def mirror(c: Context, check: bool = False) -> None:
    """Mirror migrations/NNN_name.sql into supabase/migrations/<version>_name.sql."""
    from supamigrate.run import commands

    _run(False, lambda out: commands.mirror(_config(), out, check=check))


@task(help={**CONFIG_HELP, **TARGET_HELP, "method": MIGRATE_HELP["method"]})
@friendly
def status(
    c: Context,
    db_url: str | None = None,
    linked: bool = False,
    target: str | None = None,
    json: bool = False,
    method: str = "auto",
) -> None:
    """List every migration: applied, pending, drifted, or missing locally."""
    from supamigrate.executors.registry import Needs
    from supamigrate.run import commands

    refuse_blank(method=method)

    def body(out: Reporter) -> int:
        config = _config(linked, target, db_url=db_url)
        executor = commands.open_method(config, method, Needs(), out)
        try:
            commands.status(config, out, executor)
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
    rehearse_limit: str | None = None,
    db_url: str | None = None,
    linked: bool = False,
    target: str | None = None,
    method: str = "auto",
    json: bool = False,
) -> None:
    """Mirror, then apply pending migrations, each in its own transaction, with a history row."""
    from supamigrate.run import commands

    refuse_blank(method=method, migration=migration)
    options = commands.MigrateOptions(
        dry=dry,
        rehearse=rehearse,
        migration=migration,
        skip_confirm=skip_confirm,
        continue_on_error=continue_on_error,
        allow_drift=allow_drift,
        include_all=include_all,
    )

    def body(out: Reporter) -> int:
        flags = {
            "db_url": db_url,
            "lock_timeout": lock_timeout,
            "statement_timeout": statement_timeout,
            "rehearse_limit": rehearse_limit,
        }
        config = _config(linked, target, **flags)
        executor = commands.open_method(config, method, options.needs, out)
        try:
            return commands.migrate(config, options, out, executor)
        finally:
            executor.close()

    _run(json, body)


@task(
    iterable=["file"],
    help={
        **CONFIG_HELP,
        **TARGET_HELP,
        "all": "Lint every migration, applied or not (default: the pending ones).",
        "file": "Lint this file (repeat, or list paths after lint); no project or database needed.",
    },
)
@friendly
def lint(
    c: Context,
    all: bool = False,
    file: list[str] | None = None,
    db_url: str | None = None,
    linked: bool = False,
    target: str | None = None,
    json: bool = False,
) -> None:
    """Lint migrations: locks, rewrites, breaking changes, security; with safer rewrites.

    Reads them with Postgres's parser (no database needed); exit 1 on any error finding."""
    from supamigrate.direct import lint_task  # also run without Invoke (cli.py)

    lint_task(all=all, file=file, db_url=db_url, linked=linked, target=target, json=json)


@task(
    help={
        **CONFIG_HELP,
        **TARGET_HELP,
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
    target: str | None = None,
    json: bool = False,
    no_probe: bool = False,
    sql: bool = False,
    strict: bool = False,
) -> None:
    """Check tables, RLS, counts, signups and tenant isolation, and lint the exposed schemas."""
    from supamigrate.run.commands import banner
    from supamigrate.tenant import VERIFY_SQL, commands

    if sql:
        print(VERIFY_SQL)
        return

    def body(out: Reporter) -> int:
        config = _config(linked, target, db_url=db_url)
        banner(config, out)
        return commands.verify(config, out, probe=not no_probe, strict=strict)

    _run(json, body)


@task(
    help={
        **CONFIG_HELP,
        **TARGET_HELP,
        "strict": "Fail on warnings too (errors always fail; info never).",
    }
)
@friendly
def advise(
    c: Context,
    db_url: str | None = None,
    linked: bool = False,
    target: str | None = None,
    json: bool = False,
    strict: bool = False,
) -> None:
    """Supabase's database advisors (splinter's security and performance lints) on any project."""
    from supamigrate.advise.command import run_advise
    from supamigrate.run.commands import banner

    def body(out: Reporter) -> int:
        config = _config(linked, target, db_url=db_url)
        banner(config, out)
        return run_advise(config, out, strict=strict)

    _run(json, body)


@task(
    name="rollback-rls",
    help={
        **CONFIG_HELP,
        **TARGET_HELP,
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
    target: str | None = None,
    json: bool = False,
) -> None:
    """Undo 004 and 005 as recorded: their policies, RLS where they turned it on (never 001's)."""
    from supamigrate.run.commands import banner
    from supamigrate.tenant import commands

    refuse_blank(table=table)

    def body(out: Reporter) -> int:
        config = _config(linked, target, db_url=db_url)
        banner(config, out)
        return commands.rollback_rls(config, out, table=table, dry=dry, skip_confirm=skip_confirm)

    _run(json, body)


@task(
    help={
        "project_ref": "The project's ref (20 letters in its dashboard URL); "
        "default: DATABASE_URL's.",
    }
)
@friendly
def link(c: Context, project_ref: str | None = None) -> None:
    """Link this folder to a Supabase project with the real `supabase link` (idempotent)."""
    from supamigrate.run import link as linking

    refuse_blank(project_ref=project_ref)
    config = _config()
    linking.link(config, linking.derive_ref(config, project_ref), say=print)


# --- the local database -------------------------------------------------------------------


@task(name="start")
@friendly
def db_start(c: Context) -> None:
    """Start the local Supabase-like Postgres on 127.0.0.1:54322 (idempotent)."""
    from supamigrate.local import server

    print(_shown(server.start(_local_server())))


@task(name="stop")
@friendly
def db_stop(c: Context) -> None:
    """Stop the local Postgres (its data stays in .supamigrate/local)."""
    from supamigrate.local import server

    print(server.stop(_local_server()))


@task(name="status")
@friendly
def db_status(c: Context) -> None:
    """Say whether the local Postgres is running, and where."""
    from supamigrate.local import server as local

    server = _local_server()
    state = local.status(server)
    print(f"Local database: {state.detail}")
    if not state.running and local.port_answers(server):
        print(
            f"Note: something else answers on {server.host}:{server.port} (`supabase start`, "
            "or another project's local database); the default URL reaches that one."
        )
    if state.running:
        print(
            _shown(f"URL: {server.user_target().masked_url} (password: see `invoke db.url --help`)")
        )


@task(name="reset")
@friendly
def db_reset(c: Context) -> None:
    """Drop and recreate the local `postgres` database: empty, with the Supabase shim."""
    from supamigrate.local import server

    print(_shown(server.reset(_local_server())))


@task(name="create", help={"name": "The new database's name, e.g. otherapp."})
@friendly
def db_create(c: Context, name: str) -> None:
    """Create a database for another app on the local server, with the Supabase shim."""
    from supamigrate.local import server

    print(_shown(server.create_database(_local_server(), name)))


@task(
    name="seed",
    help={
        "users": "How many demo users (default 2000).",
        "rows_per_user": "files rows per user (audit_logs half, sessions 1/20th); default 100.",
    },
)
@friendly
def db_seed(c: Context, users: int = 2000, rows_per_user: int = 100) -> None:
    """Fill the LOCAL database with a pre-tenant demo app: users, files, audit_logs, sessions."""
    from supamigrate.connect.db import session
    from supamigrate.local.demo import seed_demo_app

    in_range("users", users, 1, 1_000_000)
    in_range("rows-per-user", rows_per_user, 0, 100_000)
    server = _local_server()
    with session(server.user_target()) as conn, conn.cursor() as cur:
        summary = seed_demo_app(cur, users=users, rows_per_user=rows_per_user)
    for line in summary.lines():
        print(line)


@task(
    name="url", help={"show_password": "Print the real password (for `export DATABASE_URL=...`)."}
)
@friendly
def db_url(c: Context, show_password: bool = False) -> None:
    """Print the local database URL (password masked unless --show-password)."""
    target = _local_server().user_target()
    print(target.url() if show_password else target.masked_url)


db = Collection("db", db_start, db_stop, db_status, db_reset, db_create, db_seed, db_url)

ns = Collection(migrate, status, mirror, lint, verify, advise, rollback_rls, link)
ns.add_collection(db)
