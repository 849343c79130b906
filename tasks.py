"""supamigrate's tasks: `invoke --list` shows them, `invoke --help NAME` explains each flag.

The collection lives in the package (src/supamigrate/collection.py), so the same tasks run
as `supamigrate <task>` in any Supabase repo. This file is the table of contents:

    migrate         mirror, then apply pending migrations (--dry, --rehearse, --migration N)
    status          applied, pending, drifted, missing locally
    mirror          migrations/NNN_name.sql -> supabase/migrations/<version>_name.sql
    verify          tenant tables, RLS, counts, isolation probe, schema lints
    rollback-rls    turn off what 004 turned on (tables and data stay)
    link            `supabase link` this folder to a project
    db.start/stop/status/reset/url    the local Supabase-like Postgres
"""

from __future__ import annotations

import os
import sys

# invoke turns bytecode caching off (so no tasks.pyc lands here); it would also stop our
# package's modules, imported later inside tasks, from being cached: ~20 ms on every run.
if not os.environ.get("PYTHONDONTWRITEBYTECODE"):
    sys.dont_write_bytecode = False

from supamigrate.collection import ns
from supamigrate.usage import guard_invoke

guard_invoke()  # a mistyped flag or task: "did you mean ...?" and exit 2, as under `supamigrate`

__all__ = ["ns"]
