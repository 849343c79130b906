"""RLS cost of the shipped policies: a tenant member vs service_role with an explicit filter.

Starts a throwaway Postgres (same code as `invoke db.start`), loads 1,000,000 files rows over
1,000 tenants, applies the shipped migrations, then times `select count(*)` and a 50-row page
as an authenticated member of one tenant and as service_role with `where tenant_id = ...`.
Also times a naive policy that calls a membership function per row, the baseline to beat.
Writes benchmarks/results/rls_cost.md (and prints it). Run: `nox -s bench`.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from supamigrate.connect.db import session  # noqa: E402

REPEATS = 15
QUERIES = {
    "count(*)": "select count(*) from public.files {where}",
    "50-row page": "select id, name, created_at from public.files {where} order by created_at desc limit 50",
}
NAIVE = """
create or replace function public.is_member_naive(t uuid) returns boolean
language sql stable security definer set search_path = '' as $$
  select exists (select 1 from public.user_tenants ut where ut.tenant_id = t and ut.user_id = auth.uid())
$$;
drop policy if exists "files: tenant members can read" on public.files;
create policy "files: tenant members can read" on public.files for select to authenticated
  using (public.is_member_naive(tenant_id));
"""


def timed(cur: Any, sql: str, params: tuple[Any, ...] = ()) -> float:
    started = time.perf_counter()
    cur.execute(sql, params)
    cur.fetchall()
    return (time.perf_counter() - started) * 1000


def median_as(
    cur: Any, role: str, user: str | None, sql: str, params: tuple[Any, ...] = ()
) -> float:
    samples = []
    for _ in range(REPEATS):
        cur.execute("begin")
        cur.execute(f"set local role {role}")
        claims = {"sub": user, "role": role} if user else {"role": role}
        cur.execute("select set_config('request.jwt.claims', %s, true)", (json.dumps(claims),))
        samples.append(timed(cur, sql, params))
        cur.execute("rollback")
    return statistics.median(samples)


def measure(cur: Any, user: str, tenant: str) -> dict[str, tuple[float, float]]:
    out = {}
    for label, template in QUERIES.items():
        rls = median_as(cur, "authenticated", user, template.format(where=""))
        explicit = median_as(
            cur, "service_role", None, template.format(where="where tenant_id = %s"), (tenant,)
        )
        out[label] = (rls, explicit)
    return out


def report(shipped: dict[str, tuple[float, float]], naive: dict[str, tuple[float, float]]) -> str:
    worst = max(rls / explicit for rls, explicit in shipped.values())
    lines = [
        "## RLS cost (`benchmarks/rls_cost.py`)",
        "",
        "1,000,000 `files` rows over 1,000 tenants (one per user, 1,000 rows each), every "
        f"shipped migration applied (005's restrictive boundary included). Median of {REPEATS} runs, milliseconds, each in its own "
        "transaction as PostgREST would run it (`set local role`, `request.jwt.claims`).",
        "",
        "| query | member via RLS | service_role + where | ratio | naive per-row policy | naive ratio |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for label in QUERIES:
        rls, explicit = shipped[label]
        naive_rls, naive_explicit = naive[label]
        lines.append(
            f"| {label} | {rls:.2f} | {explicit:.2f} | {rls / explicit:.2f} | {naive_rls:.2f} | "
            f"{naive_rls / naive_explicit:.1f} |"
        )
    verdict = "met" if worst < 1.2 else "missed"
    lines += [
        "",
        f"Target: ratio under 1.2: {verdict} (worst {worst:.2f}). The naive baseline is a policy "
        "that calls a membership function per row (`using (is_member(tenant_id))`), the common "
        "first attempt.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    from throwaway import throwaway_server

    from helpers.platform_fixtures import add_rows, create_platform_tables, create_users
    from helpers.tenancy import apply

    with throwaway_server("supamigrate-bench-") as (server, _):
        target = server.user_target()
        with session(target) as conn, conn.cursor() as cur:
            create_platform_tables(cur, ["files"])
            users = create_users(cur, 1000)
            add_rows(cur, "files", users, 1000)
        apply(target)
        with session(target, autocommit=True) as conn, conn.cursor() as cur:
            cur.execute("vacuum analyze public.files")
            cur.execute("vacuum analyze public.user_tenants")
            cur.execute(
                "select ut.user_id::text, ut.tenant_id::text from public.user_tenants ut limit 1"
            )
            user, tenant = cur.fetchone()
            shipped = measure(cur, user, tenant)
            cur.execute(NAIVE)
            naive = measure(cur, user, tenant)
        section = report(shipped, naive)
        out = Path(__file__).resolve().parent / "results" / "rls_cost.md"
        out.parent.mkdir(exist_ok=True)
        out.write_text(section)
        print(section)


if __name__ == "__main__":
    main()
