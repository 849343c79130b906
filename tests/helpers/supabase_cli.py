"""The real Supabase CLI (npm package `supabase`) driven against a test database:
`db push`, any other command, and the history rows it leaves.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from helpers.project import REPO
from supamigrate.connect.db import session
from supamigrate.connect.dburl import DbTarget

CLI = REPO / "node_modules" / ".bin" / "supabase"


def push(root: Path, target: DbTarget, *args: str) -> subprocess.CompletedProcess[str]:
    """`supabase db push` against `target` by URL, the password only in PGPASSWORD."""
    env = {**os.environ, "PGPASSWORD": target.password or ""}
    remote = target.url(with_password=False)
    return subprocess.run(
        [str(CLI), "db", "push", f"--remote={remote}", "--yes", "--workdir", str(root), *args],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )


def cli(root: Path, target: DbTarget, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PGPASSWORD": target.password or ""}
    return subprocess.run(
        [str(CLI), *args, f"--remote={target.url(with_password=False)}", "--workdir", str(root)],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )


def rows(target: DbTarget) -> list[tuple[Any, ...]]:
    with session(target) as conn, conn.cursor() as cur:
        cur.execute(
            "select version, name, statements from supabase_migrations.schema_migrations order by 1"
        )
        return cur.fetchall()
