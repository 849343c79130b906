"""Run every advisor against a live database in two round trips: the facts, then one query."""

from __future__ import annotations

from dataclasses import dataclass

from psycopg2.extensions import cursor as Cursor

from supamigrate.advise import performance, security
from supamigrate.advise.catalog import MANAGED, api_schemas, own_schemas
from supamigrate.advise.model import Finding, Lint

LINTS: tuple[Lint, ...] = (*security.LINTS, *performance.LINTS)

# Facts a lint may need (Lint.needs) to apply at all; each is one boolean expression.
_FACTS = {
    # Anonymous sign-ins are in use: auth.users has the column and an anonymous user exists.
    "anonymous_users": (
        "exists (select 1 from pg_attribute where attrelid = to_regclass('auth.users') "
        "and attname = 'is_anonymous' and not attisdropped) "
        "and has_table_privilege(to_regclass('auth.users'), 'select')"
    ),
}


@dataclass(frozen=True)
class Advice:
    """What the advisors found: every lint run, the ones that did not apply, the findings."""

    ran: tuple[Lint, ...]
    skipped: tuple[tuple[Lint, str], ...]
    findings: tuple[Finding, ...]
    app_schemas: tuple[str, ...]


def advise(cur: Cursor, *, app_schemas: list[str] | None = None) -> Advice:
    """Run the advisors. `app_schemas` overrides the app's exposed schemas (verify passes
    its own reading); by default they are what PostgREST serves minus Supabase's schemas."""
    api = api_schemas(cur)
    app = app_schemas if app_schemas is not None else [s for s in api if s not in MANAGED]
    mine = own_schemas(cur)
    facts = _facts(cur)
    ran = tuple(lint for lint in LINTS if not lint.needs or facts[lint.needs])
    skipped = tuple((lint, lint.needs) for lint in LINTS if lint not in ran)
    by_name = {lint.name: lint for lint in ran}
    union = " union all ".join(
        f"(select %(l{i})s::text, x::text from ({lint.sql}) f(x))" for i, lint in enumerate(ran)
    )
    params: dict[str, object] = {"app": app, "api": api, "mine": mine}
    params.update({f"l{i}": lint.name for i, lint in enumerate(ran)})
    cur.execute(union, params)
    order = {lint.name: i for i, lint in enumerate(ran)}
    rows = sorted(cur.fetchall(), key=lambda row: (order[row[0]], row[1]))
    findings = tuple(Finding(by_name[name], obj) for name, obj in rows)
    return Advice(ran, skipped, findings, tuple(app))


def _facts(cur: Cursor) -> dict[str, bool]:
    names = list(_FACTS)
    cur.execute("select " + ", ".join(f"({_FACTS[n]})" for n in names))
    row = cur.fetchone() or ()
    facts = dict(zip(names, (bool(v) for v in row), strict=True))
    if facts["anonymous_users"]:  # the column exists: is anyone using it?
        cur.execute("select exists (select 1 from auth.users where is_anonymous)")
        found = cur.fetchone()
        facts["anonymous_users"] = bool(found and found[0])
    return facts
