"""Named targets: `[tool.supamigrate.targets.<name>]` says where a database's URL comes from.

A team with staging, production and a project per region names each once in pyproject.toml
and picks one with `--target <name>`. The file is committed, so it holds only the *names* of
environment variables (CI secrets, `.env.secrets`), never a URL or a password: a key that could
carry a secret is refused, and so is a variable name that looks like a pasted URL.

    [tool.supamigrate.targets.staging]
    db_url_env = "STAGING_DATABASE_URL"          # the whole URL comes from this variable

    [tool.supamigrate.targets.production]
    project_ref = "abcdefghijklmnopqrst"         # the project's URL is built from its ref
    password_env = "PRODUCTION_DB_PASSWORD"      # and its password comes from this variable
    pooler_host = "aws-0-eu-central-1.pooler.supabase.com"   # optional: the session pooler
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import NamedTuple

from supamigrate.errors import ConfigError

# What a target may say; everything else is refused with this list.
KEYS = ("db_url_env", "password_env", "project_ref", "pooler_host", "description")
# Keys that would put a secret into a committed file: each gets the fix that names the *_env key.
_SECRET_KEYS = {
    "db_url": "db_url_env",
    "url": "db_url_env",
    "database_url": "db_url_env",
    "dsn": "db_url_env",
    "password": "password_env",
    "db_password": "password_env",
}
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TARGET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_REF = re.compile(r"^[a-z0-9]{20}$")
_HOST = re.compile(r"^[A-Za-z0-9.-]+$")
WHERE = "pyproject.toml [tool.supamigrate.targets]"


class Chosen(NamedTuple):  # not a frozen dataclass: ~0.7 ms less at import
    """The resolved target: the URL text to parse, where it came from, and a password that
    fills in a URL without one (from password_env)."""

    name: str
    url: str
    source: str
    password: str | None


# Looks a variable up in the environment, then .env.secrets, then .env: (value, where), where
# reads like "NAME (environment)".
Lookup = Callable[[str], tuple[str | None, str]]


def check_targets(table: object) -> dict[str, Mapping[str, str]]:
    """Validate every target's shape (also when no --target is given: a committed secret is an
    error on any command, not only on the run that uses it)."""
    if not isinstance(table, Mapping):
        raise ConfigError(
            f"{WHERE} must be a table of tables, e.g. [tool.supamigrate.targets.staging] "
            'with db_url_env = "STAGING_DATABASE_URL".'
        )
    return {str(name): _check_one(str(name), spec) for name, spec in table.items()}


def _check_one(name: str, spec: object) -> Mapping[str, str]:
    here = f"[tool.supamigrate.targets.{name}]"
    if not _TARGET_NAME.fullmatch(name):
        raise ConfigError(f"{here}: use letters, digits, '_', '-' and '.' in a target's name.")
    if not isinstance(spec, Mapping):
        raise ConfigError(f'{here} must be a table, e.g. db_url_env = "{_env_for(name)}".')
    for key in spec:
        if str(key).lower() in _SECRET_KEYS:
            fix = _SECRET_KEYS[str(key).lower()]
            raise ConfigError(
                f"{here} has a {key} key: secrets never go into pyproject.toml (it is "
                "committed). Put the value in an environment variable or .env.secrets and "
                f'write {fix} = "NAME" instead.'
            )
    unknown = sorted(str(key) for key in spec if key not in KEYS)
    if unknown:
        raise ConfigError(f"{here}: unknown key(s) {', '.join(unknown)}; valid: {', '.join(KEYS)}.")
    values: dict[str, str] = {}
    for key, value in spec.items():
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{here}: {key} must be a non-empty string.")
        values[str(key)] = value.strip()
    for key in ("db_url_env", "password_env"):
        if key in values:
            _check_env_name(here, key, values[key])
    if "project_ref" in values and not _REF.fullmatch(values["project_ref"]):
        raise ConfigError(
            f"{here}: project_ref {values['project_ref']!r} is not a project ref: use the 20 "
            "lowercase letters and digits from the dashboard URL."
        )
    if "pooler_host" in values and not _HOST.fullmatch(values["pooler_host"]):
        raise ConfigError(
            f"{here}: pooler_host must be a host name only, e.g. "
            "aws-0-eu-central-1.pooler.supabase.com (no user, password or port)."
        )
    if "db_url_env" not in values and "project_ref" not in values:
        raise ConfigError(
            f'{here} says nowhere to connect: add db_url_env = "{_env_for(name)}" (the variable '
            'holding its URL), or project_ref = "<ref>" with password_env = "NAME".'
        )
    if "db_url_env" in values and ("project_ref" in values or "pooler_host" in values):
        raise ConfigError(
            f"{here}: use either db_url_env (the whole URL) or project_ref/pooler_host, not both."
        )
    if "project_ref" in values and "password_env" not in values:
        raise ConfigError(
            f'{here}: a target by project_ref needs password_env = "NAME" (the variable holding '
            "the database password)."
        )
    return values


def _check_env_name(here: str, key: str, value: str) -> None:
    if _ENV_NAME.fullmatch(value):
        return
    if "://" in value or "@" in value:  # a URL pasted where its variable's name belongs
        raise ConfigError(
            f"{here}: {key} holds what looks like a URL, and pyproject.toml is committed: move "
            f"it into an environment variable (a CI secret, or .env.secrets) and set {key} to "
            "that variable's name. Treat the password as leaked if this file was pushed."
        )
    raise ConfigError(
        f"{here}: {key} must name an environment variable (letters, digits, '_'), e.g. "
        f"{_env_for('staging')}; the value is not shown."
    )


def pick(name: str, table: object, lookup: Lookup, supabase_dir: Path) -> Chosen:
    """The target called `name`: its URL read from the variable it names (ConfigError, exit 2,
    for an unknown name or an unset variable)."""
    targets = check_targets(table if table is not None else {})
    if not _TARGET_NAME.fullmatch(name):  # a URL or a password pasted here: never echo it
        raise ConfigError(
            "--target takes the name of a target in pyproject.toml [tool.supamigrate.targets] "
            f"(letters, digits, '_', '-', '.'); defined: {', '.join(sorted(targets)) or 'none'}."
        )
    if name not in targets:
        raise ConfigError(_unknown(name, list(targets)))
    spec = targets[name]
    password = None
    if "password_env" in spec:
        password, _ = _required(name, spec["password_env"], lookup, what="the database password")
    if "db_url_env" in spec:
        variable = spec["db_url_env"]
        url, found = _required(name, variable, lookup, what="the database URL")
        where = found.removesuffix(" (environment)")  # a file layer stays: "X (.env.secrets)"
        return Chosen(name, url, f"target {name}: {where}", password)
    ref = spec["project_ref"]
    url = _project_url(ref, spec.get("pooler_host"), supabase_dir)
    source = f"target {name}: project {ref}, password from {spec['password_env']}"
    return Chosen(name, url, source, password)


def _project_url(ref: str, pooler_host: str | None, supabase_dir: Path) -> str:
    """The session pooler when its host is known (IPv4: works from CI runners), else the
    pooler URL `supabase link` saved when this folder is linked to that very project, else the
    direct host (IPv6 only on most projects)."""
    if pooler_host:
        return f"postgresql://postgres.{ref}@{pooler_host}:5432/postgres"
    temp = supabase_dir / ".temp"
    linked = _read(temp / "project-ref") == ref
    return (linked and _read(temp / "pooler-url")) or (
        f"postgresql://postgres@db.{ref}.supabase.co:5432/postgres"
    )


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8").strip() if path.is_file() else ""


def _required(target: str, variable: str, lookup: Lookup, *, what: str) -> tuple[str, str]:
    value, layer = lookup(variable)
    if value is None:
        raise ConfigError(
            f"Target {target}: {variable} is not set: set it to {what} (in CI from a secret, "
            "locally in .env.secrets); nothing was done."
        )
    return value, layer


def _unknown(name: str, known: list[str]) -> str:
    if not known:
        return (
            f"Unknown target {name!r}: pyproject.toml defines none. Add one: "
            f'[tool.supamigrate.targets.{name}] with db_url_env = "{_env_for(name)}".'
        )
    import difflib  # here: only a mistyped target needs it

    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]}? " if close else ""
    return (
        f"Unknown target {name!r}: {hint}{WHERE} defines {', '.join(sorted(known))}; "
        f"add [tool.supamigrate.targets.{name}] for a new one."
    )


def _env_for(name: str) -> str:
    return re.sub(r"[^A-Z0-9]+", "_", name.upper()).strip("_") + "_DATABASE_URL"
