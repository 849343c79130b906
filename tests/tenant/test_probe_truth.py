"""The isolation probe says the truth (promise 2): it fails exactly when a user reaches another
tenant's row (reads it, inserts into another tenant) or anon reads one; a tenant table that no
policy lets a member read (no policy at all, only INSERT, only restrictive ones, only another
role) leaks nothing and is said so in an info line, never a FAIL.

Generated sets of policies on a tenant table of the app's, with and without 005's boundary,
against the real server; the expected verdict is worked out from the policies, independently of
the probe. Each example runs in a transaction that is rolled back.
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from executors.test_rehearsal_boundary import bounded  # noqa: F401 (a fixture)
from supamigrate.connect.db import session
from supamigrate.tenant.checks import Level
from supamigrate.tenant.probe import NAME, isolation_probe

LONG = os.environ.get("SUPAMIGRATE_LONG") == "1"
MEMBER = "tenant_id = any (array(select public.current_user_tenant_ids()))"
BOUNDARY = "tenant_id = any (array(select supamigrate.member_tenant_ids()))"
# name -> (policy, what it lets through: own read, other read, insert elsewhere, anon read)
POLICIES = {
    "members read": (f"as permissive for select to authenticated using ({MEMBER})", "own"),
    "all read": ("as permissive for select to authenticated using (true)", "own other"),
    "anyone inserts": ("as permissive for insert to authenticated with check (true)", "insert"),
    "anon reads": ("as permissive for select to anon using (true)", "anon"),
    "a role reads": ("as permissive for select to probe_truth_reader using (true)", ""),
    "nobody reads": ("as permissive for select to authenticated using (false)", ""),
    "members only": (
        f"as restrictive for all to public using ({MEMBER}) with check ({MEMBER})",
        "restricts",
    ),
}


def _make(cur: Any, chosen: list[str], boundary: bool) -> None:
    cur.execute(
        "do $$ begin create role probe_truth_reader nologin; "
        "exception when duplicate_object then null; end $$;\n"
        "create table public.boards (id uuid primary key default gen_random_uuid(), "
        "tenant_id uuid not null references public.tenants (id), name text);\n"
        "alter table public.boards enable row level security;\n"
        "grant select, insert, update, delete on public.boards to anon, authenticated;\n"
    )
    for name in chosen:
        cur.execute(f'create policy "{name}" on public.boards {POLICIES[name][0]}')
    if boundary:
        for cmd in ("select", "insert", "update", "delete"):
            using = "" if cmd == "insert" else f" using ({BOUNDARY})"
            check = f" with check ({BOUNDARY})" if cmd in ("insert", "update") else ""
            cur.execute(
                f'create policy "tenant boundary: {cmd}" on public.boards as restrictive '
                f"for {cmd} to public{using}{check}"
            )


@settings(
    max_examples=80 if LONG else 10,
    derandomize=not LONG,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    chosen=st.lists(st.sampled_from(sorted(POLICIES)), unique=True, max_size=3),
    boundary=st.booleans(),
)
@example(chosen=[], boundary=True)  # round 13's: FAIL "sees 0 of the 2 probe rows"
@example(chosen=["all read"], boundary=False)
def test_the_probe_fails_exactly_on_a_leak(
    pg_server: Any,
    bounded: str,  # noqa: F811 (the fixture)
    chosen: list[str],
    boundary: bool,
) -> None:
    grants = " ".join(POLICIES[name][1] for name in chosen).split()
    restricted = boundary or "restricts" in grants
    leaks = not restricted and bool({"other", "insert", "anon"} & set(grants))
    reads_own = "own" in grants
    with session(pg_server.user.with_database(bounded)) as conn, conn.cursor() as cur:
        try:
            _make(cur, chosen, boundary)
            checks = isolation_probe(cur, ["public.boards"])
        finally:
            conn.rollback()
    (probe,) = [c for c in checks if c.name == NAME]
    shown = [(c.status, c.name, c.detail) for c in checks]
    assert probe.ok is not leaks, (chosen, boundary, shown)
    if leaks:
        assert "public.boards" in probe.detail, shown
        return
    assert "public.boards" in probe.detail, shown  # covered, not skipped
    unread = [c for c in checks if c.name == f"{NAME} unread public.boards"]
    assert bool(unread) is not reads_own, (chosen, boundary, shown)
    for check in unread:
        assert check.level is Level.INFO and "nothing leaks" in check.detail, shown
