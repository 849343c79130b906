"""A throwaway supamigrate project on disk, driven through the real `invoke` command."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from supamigrate.connect.dburl import DbTarget

REPO = Path(__file__).resolve().parents[2]
INVOKE = [sys.executable, "-m", "invoke"]


@dataclass
class Project:
    root: Path
    target: DbTarget
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def create(cls, root: Path, target: DbTarget) -> Project:
        (root / "migrations").mkdir(parents=True)
        (root / "supabase" / "migrations").mkdir(parents=True)
        shutil.copy(REPO / "tasks.py", root / "tasks.py")
        (root / "pyproject.toml").write_text("[tool.supamigrate]\n")
        # A pinned clock (SOURCE_DATE_EPOCH = 2025-12-01 00:00:01 UTC) so first mirrors get
        # 20251201000001, ...02, ... in the order written; test_mirror covers the real clock.
        return cls(root, target, env={"SOURCE_DATE_EPOCH": "1764547201"})

    def write(self, filename: str, sql: str | bytes) -> Path:
        path = self.root / "migrations" / filename
        path.write_bytes(sql.encode() if isinstance(sql, str) else sql)
        return path

    def environment(self, url: str | None = None) -> dict[str, str]:
        """A developer's shell, not CI's: CI=true would refuse to assign mirror versions."""
        env = {k: v for k, v in os.environ.items() if k not in ("CI", "DATABASE_URL")}
        env.update({"DATABASE_URL": url or self.target.url(), **self.env})
        return env

    def invoke(
        self, *args: str, url: str | None = None, **kwargs: Any
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*INVOKE, *args],
            cwd=self.root,
            env=self.environment(url),
            capture_output=True,
            text=True,
            stdin=kwargs.pop("stdin", subprocess.DEVNULL),
            timeout=kwargs.pop("timeout", 120),
            **kwargs,
        )

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [*INVOKE, *args],
            cwd=self.root,
            env=self.environment(),
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
        )


def paste_into_psql(target: DbTarget, sql: str) -> subprocess.CompletedProcess[str]:
    """Run `sql` through the real psql as a user pasting it would (stop at the first error)."""
    where = ["-h", target.host, "-p", str(target.port), "-U", target.user, target.database]
    return subprocess.run(
        ["psql", "-X", "-v", "ON_ERROR_STOP=1", *where],
        input=sql,
        env={"PGPASSWORD": target.password or "", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
