"""Executors opened straight from tests, and the migration files they apply."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from supamigrate.connect.dburl import DbTarget
from supamigrate.executors.base import Executor, Settings
from supamigrate.executors.registry import REGISTRY
from supamigrate.project.files import MigrationFile


def migration_file(root: Path, version: str, name: str, sql: str) -> MigrationFile:
    """`root`/supabase/migrations/<version>_<name>.sql holding `sql`, as the runner sees it."""
    path = root / "supabase" / "migrations" / f"{version}_{name}.sql"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(sql)
    return MigrationFile(version, name, path, sql, f"{version}_{name}")


@contextmanager
def executors_in(root: Path) -> Iterator[Callable[..., Executor]]:
    """A function opening an executor on `root`'s project: (method, target, environ extras,
    limits) -> Executor; every one opened is closed at the end."""
    opened: list[Executor] = []

    def open_(name: str, target: DbTarget, extra: dict[str, str], **limits: str) -> Executor:
        (root / "supabase" / "migrations").mkdir(parents=True, exist_ok=True)
        environ = {**os.environ, **extra}
        settings = Settings(
            target, root, root / "supabase", environ=environ, say=lambda _: None, **limits
        )
        executor = REGISTRY[name](settings)
        opened.append(executor)
        return executor

    try:
        yield open_
    finally:
        for executor in opened:
            executor.close()
