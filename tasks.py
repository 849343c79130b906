"""supamigrate's tasks: `invoke --list` shows them, `invoke --help NAME` explains each flag.

Tasks are thin: parse flags, call the library in src/supamigrate, print, exit. Imports of the
library happen inside tasks so `invoke --list` stays fast.
"""

from __future__ import annotations

import functools
import os
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import task

ROOT = Path(__file__).resolve().parent
F = TypeVar("F", bound=Callable[..., Any])


def friendly(func: F) -> F:
    """Turn library errors into one masked line and their exit code (2 usage, 1 failure)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from supamigrate.errors import SupamigrateError
        from supamigrate.masking import mask

        try:
            return func(*args, **kwargs)
        except SupamigrateError as exc:
            if os.environ.get("SUPAMIGRATE_DEBUG"):
                traceback.print_exc()
            raise Exit(mask(f"FAILED: {exc}"), code=exc.exit_code) from None

    return wrapper  # type: ignore[return-value]


def _local_server() -> Any:
    from supamigrate.localdb import LocalServer

    return LocalServer(ROOT / ".supamigrate" / "local")


# --- the local database -------------------------------------------------------------------


@task(name="start")
@friendly
def db_start(c: Context) -> None:
    """Start the local Supabase-like Postgres on 127.0.0.1:54322 (idempotent)."""
    from supamigrate import localdb

    print(localdb.start(_local_server()))


@task(name="stop")
@friendly
def db_stop(c: Context) -> None:
    """Stop the local Postgres (its data stays in .supamigrate/local)."""
    from supamigrate import localdb

    print(localdb.stop(_local_server()))


@task(name="status")
@friendly
def db_status(c: Context) -> None:
    """Say whether the local Postgres is running, and where."""
    from supamigrate import localdb

    server = _local_server()
    state = localdb.status(server)
    print(f"Local database: {state.detail}")
    if state.running:
        print(f"URL: {server.user_target().masked_url} (password: see `invoke db.url --help`)")


@task(name="reset")
@friendly
def db_reset(c: Context) -> None:
    """Drop and recreate the local `postgres` database: empty, with the Supabase shim."""
    from supamigrate import localdb

    print(localdb.reset(_local_server()))


@task(
    name="url", help={"show_password": "Print the real password (for `export DATABASE_URL=...`)."}
)
@friendly
def db_url(c: Context, show_password: bool = False) -> None:
    """Print the local database URL (password masked unless --show-password)."""
    target = _local_server().user_target()
    print(target.url() if show_password else target.masked_url)


db = Collection("db", db_start, db_stop, db_status, db_reset, db_url)

ns = Collection()
ns.add_collection(db)
