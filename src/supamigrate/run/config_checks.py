"""Checks on where configuration comes from that no single setting's value shows: a variable
of ours that is no setting, and a libpq variable that would connect elsewhere than the URL."""

from __future__ import annotations

import difflib
from collections.abc import Mapping

from supamigrate.brief import few, one_line
from supamigrate.connect.dburl import DbTarget
from supamigrate.errors import ConfigError


def check_no_hostaddr(env: Mapping[str, str], target: DbTarget) -> None:
    """libpq (psycopg2, psql, the CLI's driver) connects to PGHOSTADDR when the URL names no
    hostaddr, whatever host the URL names, and a connection service (PGSERVICE, or the URL's
    service=) may name a hostaddr too: the banner would say one database while every method
    applied to another. Refused, never followed silently."""
    keys = {key for key, _ in target.params}
    host = one_line(target.host)[:80]
    if env.get("PGHOSTADDR", "").strip() and "hostaddr" not in keys:
        raise ConfigError(
            f"PGHOSTADDR is set in the environment: libpq would connect to that address "
            f"instead of {host}, the host the database URL names. Unset it, or put hostaddr= "
            "in the URL; nothing was done."
        )
    if env.get("PGSERVICE", "").strip() or "service" in keys:
        where = "the database URL's service=" if "service" in keys else "PGSERVICE"
        raise ConfigError(
            f"{where} names a connection service, whose file can send the connection to another "
            f"address than {host}, the host the URL names: write its settings in the URL "
            f"({'remove the parameter' if 'service' in keys else 'unset PGSERVICE'}); nothing "
            "was done."
        )


# Our variables that are not settings: read where they act (edge.py, project/sources.py) or by
# the test suite and benchmarks.
_OTHER_NAMES = frozenset(
    {
        "SUPAMIGRATE_DEBUG",
        "SUPAMIGRATE_PIPE_WAIT",
        "SUPAMIGRATE_LONG",
        "SUPAMIGRATE_TEST_PG",
        "SUPAMIGRATE_DIFF_EXAMPLES",
    }
)


def check_our_names(
    layers: list[tuple[str, Mapping[str, str | None]]], env_names: Mapping[str, tuple[str, ...]]
) -> None:
    """A SUPAMIGRATE_ name that is none of ours is a typo, never skipped: a misspelt
    SUPAMIGRATE_LOCK_TIMEOUT would run without the limit asked for, and SUPAMIGRATE_DB_URL
    (the database URL is DATABASE_URL) would send the run to another database."""
    settings = sorted(n for names in env_names.values() for n in names if "SUPAMIGRATE_" in n)
    known = {name for names in env_names.values() for name in names} | _OTHER_NAMES
    for layer_name, layer in layers:
        for name in sorted(layer):
            if not name.upper().startswith("SUPAMIGRATE_") or name in known:
                continue
            if name.upper() in ("SUPAMIGRATE_DB_URL", "SUPAMIGRATE_DATABASE_URL"):
                advice = "the database URL is read from DATABASE_URL (then SUPABASE_DB_URL)."
            else:
                public = [*settings, "SUPAMIGRATE_DEBUG", "SUPAMIGRATE_PIPE_WAIT"]
                near = difflib.get_close_matches(name.upper(), public, n=1, cutoff=0.6)
                advice = f"did you mean {near[0]}?" if near else f"they are {few(settings)}."
            raise ConfigError(
                f"{one_line(name)[:60]} ({layer_name}) is not a supamigrate setting: {advice} "
                "Rename or remove it; nothing was done."
            )
