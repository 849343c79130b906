"""The manual method: print exact steps and SQL to paste; change nothing.

Each block applies one migration and writes its history row in the same transaction, so after
pasting, `invoke migrate` and `supabase db push` both see it as applied. Pasting a block twice
fails at the history insert (primary key) and rolls the whole block back.
"""

from __future__ import annotations

from supamigrate.dburl import DbTarget
from supamigrate.files import MigrationFile
from supamigrate.history import CREATE_TABLE, record_sql
from supamigrate.sqlsplit import is_no_transaction, statements_text


def block(migration: MigrationFile) -> str:
    record = record_sql(
        migration.version, migration.name, statements_text(migration.sql), replace=False
    )
    body = migration.sql.rstrip()
    if is_no_transaction(migration.sql):
        return f"{body}\n;\n{CREATE_TABLE.strip()}\n{record}"
    return f"begin;\n{CREATE_TABLE.strip()}\n{body}\n;\n{record}\ncommit;"


def instructions(todo: list[MigrationFile], target: DbTarget, *, history_known: bool) -> list[str]:
    ref = target.project_ref
    editor = f" (https://supabase.com/dashboard/project/{ref}/sql/new)" if ref else ""
    lines = [
        "Manual steps: nothing was changed.",
        f"1. Open the Supabase Dashboard, SQL Editor{editor}.",
        "2. Paste and run each block below, in order. Each applies one migration and records it "
        "in supabase_migrations.schema_migrations in the same transaction.",
    ]
    if not history_known:
        lines.append(
            "   The history could not be read: first run `select version from "
            "supabase_migrations.schema_migrations` and skip blocks whose version is listed."
        )
    for migration in todo:
        if is_no_transaction(migration.sql):
            lines.append(f"-- {migration.label}: runs outside a transaction; re-runnable by design")
        lines.append(f"-- ===== {migration.label} ({migration.version}) =====")
        lines.extend(block(migration).splitlines())
    lines.append("3. Check: `invoke status`, or paste the SQL from `invoke verify --sql`.")
    return lines
