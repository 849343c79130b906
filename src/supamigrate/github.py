"""GitHub Actions annotations for failures (with GITHUB_ACTIONS=true, as on every GitHub runner).

A failed migration becomes an `::error file=...,line=...::` on the line that failed, so the pull
request or run page shows it where it happened. Written to stderr: the runner reads workflow
commands from both streams, and stdout stays one JSON document under --json.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from supamigrate.executors.results import Result
from supamigrate.output import shown


def enabled() -> bool:
    return os.environ.get("GITHUB_ACTIONS") == "true"


def annotate(
    message: str, *, title: str, file: Path | None = None, line: int = 0, level: str = "error"
) -> None:
    """One workflow command; nothing outside GitHub Actions."""
    if not enabled():
        return
    properties = [f"title={_property(title)}"]
    if file is not None:
        properties.insert(0, f"file={_property(_in_repo(file))}")
        if line > 0:
            properties.insert(1, f"line={line}")
    text = _data(shown(message))  # masked, and naming the command in use
    print(f"::{level} {','.join(properties)}::{text}", file=sys.stderr, flush=True)


def migration_failed(result: Result, *, rehearsal: bool = False) -> None:
    """The failure of one migration, on its file and line."""
    failure = result.failure
    if failure is None:
        return
    what = "rehearsal of" if rehearsal else "migration"
    annotate(
        f"{failure.sqlstate}: {failure.message}"
        + (f" (hint: {failure.hint})" if failure.hint else ""),
        title=f"supamigrate: {what} {result.migration.label} {result.outcome.value}",
        file=result.migration.path,
        line=failure.line,
    )


def _in_repo(path: Path) -> str:
    """GitHub places annotations by path from the repository root (GITHUB_WORKSPACE; where
    that is not set, from the current folder, as lint's paths are)."""
    root = Path(os.environ.get("GITHUB_WORKSPACE") or Path.cwd())
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except (ValueError, OSError):
        return str(path)


def _data(text: str) -> str:
    # GitHub's escaping for workflow command data and properties (actions/toolkit command.ts).
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def run_failed(task: str, error: Exception) -> None:
    """A task that stopped with an error the user can act on: one annotation saying so (a
    failed migration was already annotated on its own line)."""
    from supamigrate.errors import MigrationFailed

    if not isinstance(error, MigrationFailed):
        annotate(str(error), title=f"supamigrate {task.replace('_', '-')}")
