"""The signup probe through the plain-function API, as a migrator that cannot become the auth
server (as on Supabase, where postgres is not a member of supabase_auth_admin)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from helpers.platform_fixtures import create_platform_tables
from helpers.tenancy import apply
from supamigrate.connect.db import session
from supamigrate.connect.dburl import DbTarget
from supamigrate.tenant import Check, Level, run_checks, verdict


@pytest.fixture
def migrator(pg_server: Any, db: DbTarget) -> Iterator[DbTarget]:
    """A login role with postgres's privileges and BYPASSRLS but not CREATEROLE: it can
    neither set role supabase_auth_admin nor grant itself that role."""
    name = f"migrator_{uuid.uuid4().hex[:8]}"
    with session(pg_server.admin, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(
            f"create role {name} login nosuperuser nocreaterole bypassrls password 'migrator'"
        )
        cur.execute(f"grant postgres to {name}")
    with session(db) as conn, conn.cursor() as cur:
        create_platform_tables(cur)
    apply(db)
    yield dataclasses.replace(db, user=name, password="migrator")
    with session(pg_server.admin, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(f"drop role {name}")


def _checks(target: DbTarget) -> dict[str, Check]:
    with session(target) as conn:
        try:
            with conn.cursor() as cur:
                return {c.name: c for c in run_checks(cur, probe=True)}
        finally:
            conn.rollback()


def test_definer_triggers_are_proven_without_the_auth_role(migrator: DbTarget) -> None:
    """With only security definer triggers, inserting as the migrator is the same; it says so."""
    checks = _checks(migrator)
    assert checks["signup as the auth server"].ok
    unproven = checks["signup triggers running as the auth server"]
    assert unproven.ok and "cannot act as supabase_auth_admin" in unproven.detail
    assert verdict(list(checks.values()), strict=True) == 0


def test_an_invoker_trigger_is_a_warning_when_unprovable(migrator: DbTarget, db: DbTarget) -> None:
    """A security invoker signup trigger that verify cannot run as the auth server is a
    warning naming the function."""
    with session(db) as conn, conn.cursor() as cur:
        cur.execute("alter function public.handle_new_user_tenant() security invoker")
    checks = _checks(migrator)
    unproven = checks["signup triggers running as the auth server"]
    assert unproven.level is Level.WARNING and not unproven.ok
    assert "public.handle_new_user_tenant()" in unproven.detail
    assert verdict(list(checks.values()), strict=False) == 0
    assert verdict(list(checks.values()), strict=True) == 1
