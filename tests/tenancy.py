"""Apply the shipped tenant migrations with the real psycopg2 executor, and act as users."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from supamigrate.dburl import DbTarget
from supamigrate.executors.base import Outcome, Result, Settings
from supamigrate.executors.psycopg2 import Psycopg2Executor
from supamigrate.files import MigrationFile, discover_sources, read_utf8, version_for

REPO = Path(__file__).resolve().parent.parent
BASE = "20251201000000"


def shipped() -> dict[int, MigrationFile]:
    """The four migrations in migrations/, keyed by number."""
    return {
        s.number: MigrationFile(
            version_for(s.number, BASE), s.name, s.path, read_utf8(s.path, s.content), s.label
        )
        for s in discover_sources(REPO / "migrations")
    }


def apply(
    target: DbTarget, numbers: Iterable[int] = (1, 2, 3, 4), *, rerun: bool = False
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
