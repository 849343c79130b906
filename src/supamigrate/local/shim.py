"""Install the Supabase compatibility shim (auth schema, auth.uid(), API roles, grants).

Only where `auth.users` does not exist yet: on a real Supabase project (or `supabase start`)
the real thing is already there and this does nothing.
"""

from __future__ import annotations

from importlib.resources import files

from supamigrate.connect.db import session
from supamigrate.connect.dburl import DbTarget


def shim_sql() -> str:
    return files("supamigrate").joinpath("local/shim.sql").read_text(encoding="utf-8")


def install_shim(admin: DbTarget) -> bool:
    """Apply the shim as a superuser in one transaction; return False if it was already there."""
    with session(admin) as conn, conn.cursor() as cur:
        cur.execute("select to_regclass('auth.users') is not null")
        row = cur.fetchone()
        if row is not None and row[0]:
            return False
        cur.execute(shim_sql())
    return True
