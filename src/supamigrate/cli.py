"""The `supamigrate` command: an Invoke Program over the package's collection.

`supamigrate migrate` in any folder of any Supabase repo runs the same task as `invoke
migrate` here; the project root is found upward from the current folder.
"""

from __future__ import annotations

import os
import sys
from importlib.metadata import PackageNotFoundError, version

from invoke.program import Program

from supamigrate import output, usage
from supamigrate.collection import ns


def _version() -> str:
    try:
        return version("supamigrate")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


program = Program(namespace=ns, name="supamigrate", binary="supamigrate", version=_version())
# A mistyped flag or task: exit 2 with the nearest name; `lint PATH...` reads those files.
usage.guard(program, "supamigrate")


def main() -> None:
    output.PROGRAM = "supamigrate"  # advice names the command people typed
    # invoke turns bytecode caching off; our modules are worth caching (see tasks.py).
    if not os.environ.get("PYTHONDONTWRITEBYTECODE"):
        sys.dont_write_bytecode = False
    program.run()
