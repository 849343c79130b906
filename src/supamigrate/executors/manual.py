"""The manual method: print the exact steps and the SQL to paste; change nothing.

Each block is the migration's envelope (envelope.py) with the history table's CREATE added,
so it applies one migration and writes its history row in the same transaction: after
pasting, `invoke migrate` and `supabase db push` both see it as applied. Pasting a block a
second time stops at the re-check ("supamigrate: already applied") and changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from supamigrate.executors.base import BaseExecutor, Capabilities, OnResult, Settings
from supamigrate.executors.boundary_guard import guarded
from supamigrate.executors.envelope import Limits, wrap
from supamigrate.executors.results import Result
from supamigrate.history.table import DISPLAY_ESCAPED, HistoryRow
from supamigrate.project.files import MigrationFile


class ManualExecutor(BaseExecutor):
    name: ClassVar[str] = "manual"
    capabilities: ClassVar[Capabilities] = Capabilities(executes=False, rerun=True)

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.limits = Limits(settings.lock_timeout, settings.statement_timeout)
        self._reader: BaseExecutor | None = None
        self.history_known = False

    def read_history(self) -> list[HistoryRow] | None:
        """Through psycopg2 when it can connect; None (unknown) otherwise: manual needs neither."""
        from supamigrate.errors import DatabaseUnavailable
        from supamigrate.executors.psycopg2 import Psycopg2Executor

        if Psycopg2Executor.unavailable(self.settings) is not None:
            return None
        reader = Psycopg2Executor(self.settings)
        self._reader = reader
        try:
            rows = reader.read_history()
        except DatabaseUnavailable:
            return None
        self.history_known = True
        return rows

    def apply(
        self, todo: Sequence[MigrationFile], *, rerun: bool, on_result: OnResult
    ) -> list[Result]:
        return []  # it never executes: the runner prints `instructions` instead

    def block(self, migration: MigrationFile, *, rerun: bool = False) -> str:
        """The paste-ready SQL for one migration: its envelope, history table included."""
        envelope = wrap(
            migration,
            self.limits,
            rerun=rerun,
            ensure_table=True,
            guard=guarded(self.guard_from, migration.version),
        )
        return envelope.message()[0].rstrip()

    def instructions(self, todo: Sequence[MigrationFile]) -> list[str]:
        ref = self.settings.target.project_ref
        editor = f" (https://supabase.com/dashboard/project/{ref}/sql/new)" if ref else ""
        lines = [
            "Manual steps: nothing was changed.",
            f"1. Open the Supabase Dashboard, SQL Editor{editor}.",
            "2. Paste and run each block below, in order. Each applies one migration and records "
            "it in supabase_migrations.schema_migrations in the same transaction; a block run "
            "twice stops with 'supamigrate: already applied' and changes nothing.",
        ]
        if not self.history_known:
            lines.append(
                "   The history could not be read from here, so every migration is listed; "
                "blocks already applied stop at their re-check."
            )
        for migration in todo:
            lines.append(f"-- ===== {migration.label} ({migration.version}) =====")
            if not wrap(migration, self.limits, rerun=False).transactional:
                lines.append(
                    f"-- {migration.label} runs OUTSIDE a transaction: if your editor sends the "
                    "block as one query, run its statements one at a time."
                )
            if DISPLAY_ESCAPED.search(migration.sql):  # the history row keeps them (as E''
                lines.append(  # escapes); the file's own text is shown escaped, not as it is
                    f"-- {migration.label} has CR, ESC or other characters a terminal shows as "
                    "line breaks or escapes (U+2028, U+0085, VT, FF, bidi controls, ...): printed "
                    "and pasted, its text would change; apply it with psql or psycopg2 "
                    "(`--method psql`)."
                )
            lines.extend(self.block(migration).splitlines())
        lines.append("3. Check: `invoke status`, or paste the SQL from `invoke verify --sql`.")
        return lines

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()
