"""The `supamigrate` command: an Invoke Program over the package's collection.

`supamigrate migrate` in any folder of any Supabase repo runs the same task as `invoke
migrate` here; the project root is found upward from the current folder. A plain `lint`
(CI's and pre-commit's) runs its task directly, without importing Invoke (direct.py).
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from invoke.program import Program


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("supamigrate")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


def program() -> Program:
    from invoke.program import Program

    from supamigrate import usage
    from supamigrate.collection import ns

    made = Program(namespace=ns, name="supamigrate", binary="supamigrate", version=_version())
    # A mistyped flag or task: exit 2 with the nearest name; `lint PATH...` reads those files.
    usage.guard(made, "supamigrate")
    return made


def main() -> None:
    try:
        _main()
    except KeyboardInterrupt:  # outside a task (starting up, parsing): nothing in flight
        print("Interrupted: no migration was running.", file=sys.stderr)
        sys.exit(130)


def _main() -> None:
    from supamigrate import output  # here: a Ctrl-C while it loads is main's one line

    output.PROGRAM = "supamigrate"  # advice names the command people typed
    # invoke turns bytecode caching off; our modules are worth caching (see tasks.py).
    if not os.environ.get("PYTHONDONTWRITEBYTECODE"):
        sys.dont_write_bytecode = False
    from supamigrate.direct import plain_lint, run_lint

    flags = plain_lint(sys.argv[1:])
    if flags is not None:
        code = run_lint(flags)
        from supamigrate.process import leave

        leave.now(code)  # without the teardown, as after an Invoke task (usage.guard)
        sys.exit(code)
    program().run()
