"""Settings this psql's libpq would drop: a newer security or routing setting, in the URL or
in the environment psql inherits, is refused for psql (psycopg2 brings its own libpq)."""

from __future__ import annotations

import os
import re
import subprocess

# URL settings an older libpq ignores in its environment: psql would connect without them.
_SINCE = {
    "require_auth": 16,
    "sslcertmode": 16,
    "load_balance_hosts": 16,
    "gssdelegation": 16,
    "sslnegotiation": 17,
}
# ... and the same settings in the user's environment, which psql inherits as psycopg2 does
_SINCE_ENV = {
    "require_auth": "PGREQUIREAUTH",
    "sslcertmode": "PGSSLCERTMODE",
    "load_balance_hosts": "PGLOADBALANCEHOSTS",
    "gssdelegation": "PGGSSDELEGATION",
    "sslnegotiation": "PGSSLNEGOTIATION",
}


def refuse_unknown_settings(psql: str, params: tuple[tuple[str, str], ...]) -> None:
    """A security or routing setting this psql's libpq would drop: refuse, never connect
    without it (psycopg2 brings its own libpq and honours it)."""
    keys = [key for key, _ in params]
    keys += [key for key, var in _SINCE_ENV.items() if os.environ.get(var, "").strip()]
    needed = {key: _SINCE[key] for key in keys if key in _SINCE}
    if not needed:
        return
    from supamigrate.errors import ConfigError

    version = subprocess.run(
        [psql, "--version"], capture_output=True, text=True, check=False, timeout=10
    ).stdout
    major = int(found[1]) if (found := re.search(r"(\d+)(?:\.\d+)?", version)) else 0
    missing = sorted(key for key, since in needed.items() if major < since)
    if missing:
        raise ConfigError(
            f"psql {major or '?'} does not know {', '.join(missing)} (libpq "
            f"{max(needed[key] for key in missing)}+) and would connect without it: use "
            "--method psycopg2, or a newer psql."
        )
