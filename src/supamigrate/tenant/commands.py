"""The tenant commands, `verify` and `rollback-rls`: sessions around the tenant checks.

They use the engine (config, connections, the collected migrations) and know the tenant
content; the engine knows nothing of them.
"""

from __future__ import annotations

from supamigrate.errors import UsageError
from supamigrate.output import Reporter
from supamigrate.run.commands import SKIP_HINT, collect, in_ci
from supamigrate.run.config import Config


def verify(config: Config, out: Reporter, *, probe: bool, strict: bool = False) -> int:
    """Run every check in one transaction that is rolled back; 1 if an error (or, with
    --strict, a warning) is found."""
    from supamigrate.connect.db import session
    from supamigrate.tenant import report_lines, run_checks, summary, verdict
    from supamigrate.tenant.names import TENANT_MIGRATION_NAMES

    names = {m.name for m in collect(config, out, write_mirror=False)}
    if not names & set(TENANT_MIGRATION_NAMES):
        raise UsageError(
            "verify checks what the tenant migrations (001-005) build, and this project has none "
            "of them: nothing to verify here. (`invoke advise` runs the database advisors on any "
            "project; `invoke lint` and `invoke migrate --rehearse` check any migrations.)"
        )

    with session(config.target, connect_timeout=config.connect_timeout) as conn:
        try:
            with conn.cursor() as cur:
                checks = run_checks(cur, probe=probe, api_schemas=_api_schemas(config))
        finally:
            conn.rollback()  # verify never changes anything, the probes included
    for line in report_lines(checks):
        out.say(line)
    out.fact("checks", [c.as_dict() for c in checks])
    out.fact("strict", strict)
    out.say(summary(checks, strict=strict))
    return verdict(checks, strict=strict)


def rollback_rls(
    config: Config, out: Reporter, *, table: str | None, dry: bool, skip_confirm: bool
) -> int:
    from supamigrate.connect.db import session
    from supamigrate.tenant.names import BOUNDARY_MIGRATION_NAME
    from supamigrate.tenant.rollback import RLS_MIGRATION_NAME, apply_rollback, plan_rollback

    migrations = collect(config, out, write_mirror=False)
    version = next((m.version for m in migrations if m.name == RLS_MIGRATION_NAME), None)
    boundary = next((m.version for m in migrations if m.name == BOUNDARY_MIGRATION_NAME), None)
    with session(config.target, connect_timeout=config.connect_timeout) as conn:
        with conn.cursor() as cur:
            plan = plan_rollback(cur, table=table, rls_version=version, boundary_version=boundary)
        for line in plan.kept:
            out.say(f"Note: {line}.")
        if plan.empty:
            out.say("Nothing to roll back: 004's and 005's policies and RLS are not in force here.")
            return 0
        out.say(
            "This keeps tables, columns, data and 001's RLS on tenants and user_tenants; "
            "it removes tenant isolation:"
        )
        for line in plan.sql().splitlines():
            out.say(f"  {line}")
        out.fact("sql", plan.sql())
        if dry:
            conn.rollback()
            out.say("Dry run: nothing was changed.")
            return 0
        confirmed = skip_confirm or in_ci()
        if not confirmed and not out.ask("Disable RLS as above?", refuse_hint=SKIP_HINT):
            raise UsageError("Cancelled: nothing was changed.")
        with conn.cursor() as cur:
            apply_rollback(cur, plan, lock_timeout=config.lock_timeout)
    numbers = [m.label.split("_", 1)[0] for m in migrations if m.version in plan.history_versions]
    again = " then ".join(f"`invoke migrate --migration {n}`" for n in numbers)
    out.say(f"RLS rolled back. Re-enable it with {again} (add --skip-confirm in a script).")
    return 0


def _api_schemas(config: Config) -> list[str]:
    """supabase/config.toml's `[api] schemas` (what the local stack's PostgREST serves): the
    tenant tables verify checks are found there too. None when the file or key is absent."""
    import tomllib

    path = config.supabase_dir / "config.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"Cannot read {path}: {exc}. Fix the file and retry.") from None
    api = data.get("api", {})
    schemas = api.get("schemas", []) if isinstance(api, dict) else []
    if not isinstance(schemas, list) or not all(isinstance(s, str) for s in schemas):
        raise UsageError(f"{path}: [api] schemas must be a list of schema names.")
    return list(schemas)
