"""`supamigrate lint` without Invoke: the same task body, started sooner.

Importing Invoke and building the task collection is about 0.1 s of CPU before any work, a
tenth of `lint --all` on a long history and most of a pre-commit run on a few files. The plain
forms CI and pre-commit use (`lint` with `--all`, `--json` and paths ending in .sql) are read
here and run the task's body with the task's error handling (edge.guarded): the same output,
the same one-line errors, the same exit codes. Anything else (help, another flag, a typo)
goes through Invoke's parser as before; `invoke lint` runs the same body through Invoke.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from supamigrate.output import Reporter

_SWITCHES = {"--all": "all", "--json": "json"}


def plain_lint(argv: list[str]) -> dict[str, Any] | None:
    """The lint task's arguments when `argv` is a plain lint command, else None. A bare .sql
    word is a path, as usage.with_paths reads it (no task's name ends in .sql)."""
    if not argv or argv[0] != "lint":
        return None
    flags: dict[str, Any] = {"all": False, "json": False, "file": []}
    for token in argv[1:]:
        if token in _SWITCHES:
            flags[_SWITCHES[token]] = True
        elif token.endswith(".sql") and not token.startswith("-"):
            flags["file"].append(token)
        else:
            return None
    return flags


def run_lint(flags: dict[str, Any]) -> int:
    """Run the lint task as Invoke would; its exit code (a message, if any, on stderr)."""
    from supamigrate.edge import Stop, guarded

    try:
        guarded("lint", flags["json"], lambda: lint_task(**flags))
    except Stop as stop:
        if stop.message:
            print(stop.message, file=sys.stderr)
        return stop.code
    return 0


def lint_task(
    *,
    all: bool = False,  # the task's flag name
    file: list[str] | None = None,
    db_url: str | None = None,
    linked: bool = False,
    target: str | None = None,
    json: bool = False,
) -> None:
    """The body of the lint task (collection.lint), for Invoke and the direct path alike."""
    from supamigrate.edge import _config, _run
    from supamigrate.flagcheck import refuse_blank
    from supamigrate.run import lint_command

    refuse_blank(file=file)

    def body(out: Reporter) -> int:
        # Named files (pre-commit's) need no project: the hook works in any repository.
        named = file and not (linked or target or db_url)
        config = None if named else _config(linked, target, db_url=db_url)
        return lint_command.lint(config, out, every=all, files=list(file or []))

    _run(json, body)
