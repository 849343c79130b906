"""The supabase method's timeouts: `supabase db push` gets lock_timeout and statement_timeout
as startup options (PGOPTIONS, read by the CLI's driver like libpq's), and only where a probe
showed that the target keeps them.

Every other method SETs the limits inside each migration's transaction; the CLI runs the files
itself, so the limits can only ride on its connection. A pooler may refuse startup options
(PgBouncer: "unsupported startup parameter: options") or drop them silently (older
Supavisor): then the CLI would run without them. `refused()` connects once, with the very
options the CLI would get, and reads the limits back; a difference is a reason not to use the
CLI, never a silent run without a timeout.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from supamigrate.connect.db import connect
from supamigrate.connect.dburl import DbTarget
from supamigrate.connect.masking import mask
from supamigrate.durations import to_ms
from supamigrate.errors import DatabaseUnavailable
from supamigrate.executors.base import Settings

LIMITS = ("lock_timeout", "statement_timeout")
# How a pooler (PgBouncer: "unsupported startup parameter: options") or the server says it
# will not take the startup options at all. Not "options" alone: the masked URL in every
# connect error may hold `options=`.
# The server's own "invalid command-line argument" is the user's options being wrong: that
# fails every method alike and is shown as it is.
_REFUSED = re.compile(r"unsupported startup parameter", re.IGNORECASE)
# The values the session started with (reset_val: startup options included, in ms as the
# server stores them), read with no statement_timeout: a tiny one must not cut the probe.
_READ_BACK = (
    "set statement_timeout = 0;\nselect name, reset_val from pg_settings where name = any(%s)"
)


def wanted(settings: Settings) -> dict[str, str]:
    """The configured limits that are on (a 0 or empty one is off: nothing to pass)."""
    values = zip(LIMITS, (settings.lock_timeout, settings.statement_timeout), strict=True)
    return {name: value.strip() for name, value in values if to_ms(value or "0") != 0}


def escape(value: str) -> str:
    """One word of the server's options syntax: a backslash escapes the next character, blanks
    split words (pg_split_opts)."""
    return re.sub(r"([\\\s])", r"\\\1", value)


def ours(settings: Settings) -> str:
    """`-c lock_timeout=5s -c statement_timeout=...` for the limits that are on; '' if none."""
    return " ".join(f"-c {escape(f'{name}={value}')}" for name, value in wanted(settings).items())


def user_options(settings: Settings) -> str:
    """The options the user already gives: the URL's `options` (which the CLI's driver, like
    libpq, takes over PGOPTIONS), else PGOPTIONS."""
    in_url = [value for key, value in settings.target.params if key == "options"]
    return in_url[-1] if in_url else settings.environ.get("PGOPTIONS", "")


def merged(settings: Settings) -> str:
    """The user's options, then ours: the server applies them in order, so ours win. The
    user's are kept as written (an escaped blank at their end is part of a value); a final
    lone backslash, which escapes nothing there, would escape our separator: it goes."""
    user, extra = user_options(settings), ours(settings)
    if not (user.strip() and extra):
        return extra or user
    if (len(user) - len(user.rstrip("\\"))) % 2:
        user = user[:-1]
    return f"{user} {extra}"


def with_options(target: DbTarget, options: str) -> DbTarget:
    """The target with its URL's `options` replaced (only where the URL has one: elsewhere
    PGOPTIONS carries them, and a URL's options would override PGOPTIONS)."""
    if not any(key == "options" for key, _ in target.params):
        return target
    params = tuple((k, options if k == "options" else v) for k, v in target.params)
    return DbTarget(target.host, target.port, target.user, target.database, target.password, params)


def describe(limits: dict[str, str]) -> str:
    return " and ".join(f"{name} {value}" for name, value in limits.items())


# The probe's answer per target and options: asked when auto chooses, and again before the
# push (a forced method is asked only then), it costs one connection a run.
_ANSWERS: dict[tuple[str, str], str | None] = {}


def refused(settings: Settings) -> str | None:
    """None when the target keeps the limits given as startup options (or none are on), else
    why `supabase db push` could not run with them there, with what to do. One connection."""
    if not wanted(settings):
        return None
    key = (settings.target.url(with_password=False), merged(settings))
    if key not in _ANSWERS:
        _ANSWERS[key] = _probe(settings)
    return _ANSWERS[key]


def _probe(settings: Settings) -> str | None:
    limits = wanted(settings)
    target = settings.target
    where = f"{target.host}:{target.port}"
    try:
        conn = connect(target, connect_timeout=settings.connect_timeout, options=merged(settings))
    except DatabaseUnavailable as exc:
        if not _REFUSED.search(str(exc)):
            raise  # unreachable or refused login: every method would fail alike
        return f"{where} refuses startup options, so {_could_not(limits)}"
    import psycopg2

    try:
        conn.autocommit = True  # no BEGIN: one round trip for the read-back
        with conn.cursor() as cur:
            cur.execute(_READ_BACK, (list(LIMITS),))
            found = dict(cur.fetchall())
    except psycopg2.Error as exc:
        failed = mask(f"{where}: reading the timeouts back failed: {str(exc).strip()}")
        raise DatabaseUnavailable(failed) from None
    finally:
        conn.close()
    dropped = [name for name, value in limits.items() if to_ms(value) != _int(found.get(name))]
    if dropped:
        why = _shown(dropped, found)
        return f"{where} ignores startup options ({why}), so {_could_not(limits)}"
    return None


def _int(setting: str | None) -> int | None:
    return int(setting) if setting is not None and setting.lstrip("-").isdigit() else None


def _shown(names: Sequence[str], found: dict[str, str]) -> str:
    values = {name: found.get(name, "?") for name in names}
    return ", ".join(f"{n} read back as {v}{'' if v == '0' else 'ms'}" for n, v in values.items())


def _could_not(limits: dict[str, str]) -> str:
    zero = " ".join(f"--{name.replace('_', '-')} 0" for name in limits)
    return (
        f"`supabase db push` could not run with {describe(limits)}: use the direct connection "
        f"(or a pooler that keeps startup options), another --method, or {zero} to go without"
    )
