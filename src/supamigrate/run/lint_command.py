"""`invoke lint`: which migrations to read, and the report (human, --json, GitHub annotations).

Lint needs no database. By default it reads the pending migrations: those the target's history
does not hold, when the target answers within a few seconds; otherwise every migration, said so.
"""

from __future__ import annotations

import os
import re
from dataclasses import replace
from pathlib import Path

from supamigrate.errors import DatabaseUnavailable, UsageError
from supamigrate.lint import github_annotations, has_errors, human_lines, lint_files, to_json
from supamigrate.lint.parallel import Source
from supamigrate.output import Reporter
from supamigrate.project.files import read_utf8
from supamigrate.run.commands import collect
from supamigrate.run.config import Config


def lint(config: Config | None, out: Reporter, *, every: bool, files: list[str]) -> int:
    """Lint `files` when given (no config needed), else the configured project's migrations."""
    if not files and config is None:
        raise UsageError("Name the files to lint, or run lint inside a Supabase project.")
    chosen = _given(files) if files or config is None else _migrations(config, out, every=every)
    # with the runner's lock_timeout off, a lock wait queues traffic without limit
    lock_timeout = config.lock_timeout if config is not None else "5s"
    timeout_off = re.fullmatch(r"0*\s*[a-z]*", lock_timeout.strip().lower()) is not None
    findings = lint_files(chosen, lock_timeout_off=timeout_off)
    out.say_each(human_lines(findings))
    if os.environ.get("GITHUB_ACTIONS") == "true":
        for line in github_annotations(findings):
            print(line, flush=True)  # GitHub reads these from the log, JSON or not
    out.fact("files", [path for path, _ in chosen])
    out.fact("findings", to_json(findings))
    failed = has_errors(findings)
    out.say(f"Linted {len(chosen)} file(s): " + ("errors found." if failed else "no errors."))
    return 1 if failed else 0


def _given(files: list[str]) -> list[tuple[str, str]]:
    chosen = []
    for name in files:
        path = Path(name)
        if not path.is_file():
            raise UsageError(
                f"{name}: no such file to lint; check the path (relative to {Path.cwd()})."
            )
        chosen.append((name, read_utf8(path)))
    return chosen


def _migrations(config: Config, out: Reporter, *, every: bool) -> list[tuple[str, Source]]:
    # supabase/migrations' files unread: on two cores each process reads the ones it lints
    migrations = collect(config, out, write_mirror=False, unread=True)
    applied = set() if every else _applied(config, out)
    return [(_shown(m.path, config.root), m.body) for m in migrations if m.version not in applied]


def _applied(config: Config, out: Reporter) -> set[str]:
    """The versions the target holds; none (so: lint everything) when it cannot be asked."""
    from supamigrate.executors.base import Settings
    from supamigrate.executors.psycopg2 import Psycopg2Executor

    settings = Settings(config.target, config.root, config.supabase_dir, connect_timeout=3)
    reader = Psycopg2Executor(replace(settings))
    try:
        return {row.version for row in reader.read_history()}
    except (DatabaseUnavailable, ImportError) as exc:
        # lint needs no database: why it could not ask is worth a line, not a failure
        out.say(f"Linting every migration: the database could not be asked what is applied. {exc}")
        return set()
    finally:
        reader.close()


def _shown(path: Path, root: Path) -> str:
    text, prefix = str(path), str(root).rstrip(os.sep) + os.sep
    if text.startswith(prefix) and len(prefix) > 1:  # relative_to's answer, 10x sooner
        return text[len(prefix) :]
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
