"""Apply the shipped tenant migrations with the real psycopg2 executor, and act as users."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from supamigrate.connect.dburl import DbTarget
from supamigrate.executors.base import Settings
from supamigrate.executors.psycopg2 import Psycopg2Executor
from supamigrate.executors.results import Outcome, Result
from supamigrate.project.files import MigrationFile, SourceFile, discover_sources, read_utf8

REPO = Path(__file__).resolve().parents[2]
# The shipped migrations by number: named explicitly so that migrations a user adds to this
# repo's migrations/ and supabase/migrations/ change no test of the shipped five.
SHIPPED = (1, 2, 3, 4, 5)


def shipped_sources() -> list[SourceFile]:
    return [s for s in discover_sources(REPO / "migrations") if s.number in SHIPPED]


def shipped_mirror(source: SourceFile) -> Path:
    """The committed mirror file of a shipped source: its version is the record."""
    found = [
        p
        for p in (REPO / "supabase" / "migrations").glob(f"*_{source.name}.sql")
        if p.read_bytes() == source.content
    ]
    assert len(found) == 1, (source.path, found)
    return found[0]


def shipped() -> dict[int, MigrationFile]:
    """The shipped migrations, keyed by number, with their committed versions."""
    files = {}
    for s in shipped_sources():
        version = shipped_mirror(s).name.split("_", 1)[0]
        files[s.number] = MigrationFile(
            version, s.name, s.path, read_utf8(s.path, s.content), s.label
        )
    return files


def copy_shipped(root: Path) -> None:
    """Put 001-005 and their committed mirror files (so their versions) into a project."""
    for source in shipped_sources():
        shutil.copy(source.path, root / "migrations" / source.path.name)
        mirror = shipped_mirror(source)
        shutil.copy(mirror, root / "supabase" / "migrations" / mirror.name)


def apply(
    target: DbTarget, numbers: Iterable[int] = SHIPPED, *, rerun: bool = False
) -> list[Result]:
    files = shipped()
    executor = Psycopg2Executor(Settings(target, REPO, REPO / "supabase"))
    try:
        todo = [files[n] for n in numbers]
        results = executor.apply(todo, rerun=rerun, on_result=lambda result: None)
    finally:
        executor.close()
    for result in results:
        assert result.outcome is Outcome.OK, (result.migration.label, result.failure)
    return results


def act_as(cur: Any, role: str, user_id: str | None = None) -> None:
    """Inside the current transaction, become `role` with PostgREST-style JWT claims."""
    cur.execute(f"set local role {role}")
    claims = {"role": role} if user_id is None else {"sub": user_id, "role": role}
    cur.execute("select set_config('request.jwt.claims', %s, true)", (json.dumps(claims),))


def migrated_project(project: Any, *, users: int, rows_per_user: int) -> Any:
    """`project` with the platform tables filled and the shipped migrations applied."""
    from helpers.platform_fixtures import populate
    from supamigrate.connect.db import session

    copy_shipped(project.root)
    with session(project.target) as conn, conn.cursor() as cur:
        populate(cur, users=users, rows_per_user=rows_per_user)
    assert project.invoke("migrate", "--skip-confirm").returncode == 0
    return project


def bypass_findings(cur: Any, name: str) -> list[Any]:
    """verify's RLS-bypass checks named `name` that did not pass, as it runs them."""
    from supamigrate.tenant.bypass import bypass_checks
    from supamigrate.tenant.catalog import exposed_schemas, tenant_tables

    schemas = exposed_schemas(cur)
    found = bypass_checks(cur, schemas, tenant_tables(cur, schemas))
    return [check for check in found if not check.ok and check.name == name]
