"""A migration file written where the CLI keeps them, for tests that drive an executor."""

from __future__ import annotations

from pathlib import Path

from supamigrate.project.files import MigrationFile


def migration_file(root: Path, version: str, name: str, sql: str) -> MigrationFile:
    """`root`/supabase/migrations/<version>_<name>.sql holding `sql`, as the runner sees it."""
    path = root / "supabase" / "migrations" / f"{version}_{name}.sql"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(sql)
    return MigrationFile(version, name, path, sql, f"{version}_{name}")
