"""Configuration: one value per key, first found wins, and we remember where it came from.

Order: task flags; the environment; `.env.secrets`; `.env`; `[tool.supamigrate]` in
pyproject.toml; built-in defaults (the database URL defaults to the local one that both
`supabase start` and `invoke db.start` serve).
"""

from __future__ import annotations

import io
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from supamigrate import durations
from supamigrate.brief import few, one_line
from supamigrate.connect.dburl import DbTarget, parse_db_url
from supamigrate.connect.masking import register_secret
from supamigrate.errors import ConfigError, UsageError
from supamigrate.executors.registry import METHOD_NAMES, check_order
from supamigrate.project import targets
from supamigrate.project.sources import read_config_file
from supamigrate.run.config_checks import check_no_hostaddr, check_our_names

if sys.version_info >= (3, 11):  # noqa: UP036 - tomli kept for older interpreters
    import tomllib
else:  # pragma: no cover - tomli only where tomllib is missing
    import tomli as tomllib

# The published local default, the same URL `supabase start` serves (not a secret).
LOCAL_PASSWORD = "postgres"  # noqa: S105
LOCAL_DB_URL = f"postgresql://postgres:{LOCAL_PASSWORD}@127.0.0.1:54322/postgres"
# Passed through to the Supabase CLI untouched (it reads them itself).
SUPABASE_PASSTHROUGH = ("SUPABASE_DB_PASSWORD", "SUPABASE_PROJECT_ID", "SUPABASE_ACCESS_TOKEN")

DEFAULTS: dict[str, Any] = {
    "db_url": LOCAL_DB_URL,
    "migrations_dir": "migrations",
    "supabase_dir": "supabase",
    "version_base": "20251201000000",
    "lock_timeout": "5s",
    "statement_timeout": "",
    "rehearse_limit": "2s",
    "connect_timeout": 10,
    "methods": list(METHOD_NAMES),
}
# Environment (and .env) names per key, first listed wins within one layer.
ENV_NAMES: dict[str, tuple[str, ...]] = {
    "db_url": ("DATABASE_URL", "SUPABASE_DB_URL"),
    **{key: (f"SUPAMIGRATE_{key.upper()}",) for key in DEFAULTS if key != "db_url"},
}


@dataclass(frozen=True)
class Config:
    """Resolved settings. `sources` maps each key to where its value came from."""

    root: Path
    target: DbTarget
    migrations_dir: Path | None  # None: the default migrations/ is absent (optional)
    supabase_dir: Path
    version_base: str
    lock_timeout: str
    statement_timeout: str
    connect_timeout: int
    methods: tuple[str, ...]
    supabase_env: Mapping[str, str] = field(default_factory=dict)
    sources: Mapping[str, str] = field(default_factory=dict)
    linked: bool = False  # targets the linked project (`--linked`): the CLI gets bare --remote
    rehearse_limit: str = "2s"  # --rehearse: how long it may hold a lock that blocks the app

    @property
    def supabase_migrations_dir(self) -> Path:
        return self.supabase_dir / "migrations"


def load_config(
    root: Path,
    *,
    flags: Mapping[str, object | None] | None = None,
    environ: Mapping[str, str] | None = None,
    target: str | None = None,
) -> Config:
    """Resolve every key through the layers; raise ConfigError (exit 2) on a bad value.

    `target` names a [tool.supamigrate.targets.<name>] (targets.py): its URL wins over the
    environment's, and only its own password_env fills in a URL without a password."""
    env = dict(os.environ if environ is None else environ)
    layers = _env_layers(root, env)
    check_our_names(layers, ENV_NAMES)
    pyproject = _read_pyproject(root / "pyproject.toml")
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for key, default in DEFAULTS.items():
        values[key], sources[key] = _resolve(key, default, flags or {}, layers, pyproject)
    passthrough = {
        name: value
        for name in SUPABASE_PASSTHROUGH
        if (value := _first_in_layers((name,), layers, blank_is_unset=True)[0]) is not None
    }
    register_secret(passthrough.get("SUPABASE_DB_PASSWORD"))
    register_secret(passthrough.get("SUPABASE_ACCESS_TOKEN"))
    password = passthrough.get("SUPABASE_DB_PASSWORD")
    if target is not None:
        chosen = targets.pick(
            target,
            pyproject.get("targets"),
            lambda name: _first_in_layers((name,), layers),
            root / str(values["supabase_dir"]),
        )
        register_secret(chosen.password)
        values["db_url"], sources["db_url"], password = chosen.url, chosen.source, chosen.password
    parsed = parse_db_url(str(values["db_url"]), source=sources["db_url"], password=password)
    check_no_hostaddr(env, parsed)
    return Config(
        root=root,
        target=parsed,
        migrations_dir=_migrations_dir(root, str(values["migrations_dir"]), sources),
        supabase_dir=_supabase_dir(root, str(values["supabase_dir"]), sources),
        version_base=_check_version_base(str(values["version_base"])),
        lock_timeout=_check_duration("lock_timeout", str(values["lock_timeout"])),
        statement_timeout=_check_duration("statement_timeout", str(values["statement_timeout"])),
        rehearse_limit=_check_duration("rehearse_limit", str(values["rehearse_limit"])),
        connect_timeout=_check_int("connect_timeout", values["connect_timeout"]),
        methods=_check_methods(values["methods"]),
        supabase_env=passthrough,
        sources=sources,
    )


def _env_layers(root: Path, env: Mapping[str, str]) -> list[tuple[str, Mapping[str, str | None]]]:
    layers: list[tuple[str, Mapping[str, str | None]]] = [("environment", env)]
    for name in (".env.secrets", ".env"):
        path = root / name
        data = read_config_file(path)  # a pipe, a link, a directory: read or refused
        if data is not None:
            from dotenv import dotenv_values  # only paid for where there is a .env file

            layers.append((name, _dotenv(path, data, dotenv_values)))
    return layers


def _dotenv(path: Path, data: bytes, reader: Any) -> Mapping[str, str | None]:
    """A .env file's values; one a line of which cannot be read is an error, not a quiet
    fall-back to the next layer (which could be another database). A BOM is allowed."""
    from dotenv.parser import parse_stream

    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError(
            f"{path} is not UTF-8: re-save it as UTF-8 text (KEY=value lines)."
        ) from None
    broken = [b.original.line for b in parse_stream(io.StringIO(text)) if b.error]
    if broken:
        raise ConfigError(
            f"{path}, line {broken[0]}: cannot be read as KEY=value (an unclosed quote?): fix "
            "it; nothing was done."
        )
    values: Mapping[str, str | None] = reader(stream=io.StringIO(text))
    return values


def _resolve(
    key: str,
    default: Any,
    flags: Mapping[str, object | None],
    layers: list[tuple[str, Mapping[str, str | None]]],
    pyproject: Mapping[str, Any],
) -> tuple[Any, str]:
    flag = flags.get(key)
    if flag is not None:
        name = f"--{key.replace('_', '-')}"
        if isinstance(flag, str) and not flag.strip():  # a blank CI input is no value
            raise ConfigError(f"{name} is empty: give it a value, or leave the flag out.")
        return flag, name
    value, source = _first_in_layers(ENV_NAMES[key], layers)
    if value is not None:
        return value, source
    if key in pyproject:
        return pyproject[key], "pyproject.toml [tool.supamigrate]"
    return default, "default"


def _first_in_layers(
    names: tuple[str, ...],
    layers: list[tuple[str, Mapping[str, str | None]]],
    *,
    blank_is_unset: bool = False,  # only for what we pass through to the CLI, unread
) -> tuple[str | None, str]:
    for layer_name, layer in layers:
        for name in names:
            value = layer.get(name)
            if value is None and name in layer and not blank_is_unset:
                value = ""  # a bare `NAME` line in a .env file: no value, not "unset"
            if value is None or (blank_is_unset and not value.strip()):
                continue
            if not value.strip():  # a blank CI secret must not fall through to another layer
                raise ConfigError(
                    f"{name} ({layer_name}) is set but empty: give it a value, or remove it "
                    "(an unset CI secret?). Nothing was done."
                )
            return value, f"{name} ({layer_name})"
    return None, ""


def _read_toml(path: Path, data: bytes | None = None) -> dict[str, Any]:
    try:
        raw = path.read_bytes() if data is None else data
        return tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        why = one_line(str(exc))
        raise ConfigError(f"{path} is not valid TOML ({why}): fix the file and retry.") from None
    except OSError as exc:
        raise ConfigError(f"{path} cannot be read ({exc.strerror}): fix it.") from None


def _read_pyproject(path: Path) -> Mapping[str, Any]:
    data = read_config_file(path)
    if data is None:
        return {}
    tool = _read_toml(path, data).get("tool", {})
    section = tool.get("supamigrate", {}) if isinstance(tool, dict) else None
    if not isinstance(section, dict):
        raise ConfigError(f"[tool.supamigrate] in {path} must be a table of settings.")
    if "targets" in section:  # named targets (targets.py): checked on every command
        targets.check_targets(section["targets"])
    unknown = sorted(set(section) - set(DEFAULTS) - {"targets"})
    if unknown:
        raise ConfigError(
            f"Unknown key(s) {few(unknown)} in [tool.supamigrate] of {path}: "
            f"valid keys are {', '.join(DEFAULTS)}."
        )
    for key, value in section.items():
        if key != "targets":
            _check_type(key, value, path)
    return section


# What each [tool.supamigrate] key may hold; TOML gives ints, bools, lists and tables too.
_TEXT_KEYS = ("db_url", "migrations_dir", "supabase_dir", "version_base")


def _check_type(key: str, value: object, path: Path) -> None:
    where = f"{key} in [tool.supamigrate] of {path}"
    if key in _TEXT_KEYS or key in ("lock_timeout", "statement_timeout"):
        ok = isinstance(value, str) or (
            key in ("lock_timeout", "statement_timeout") and type(value) is int
        )
        if not ok:
            raise ConfigError(f"{where} must be a string, got {type(value).__name__}.")
        if key in _TEXT_KEYS and not str(value).strip():
            raise ConfigError(f"{where} is empty: give it a value, or remove the line.")
    elif key == "connect_timeout" and type(value) is not int and not isinstance(value, str):
        raise ConfigError(f"{where} must be a whole number of seconds, got {value!r:.40}.")
    elif key == "methods" and not (
        isinstance(value, str)
        or (isinstance(value, list) and all(isinstance(v, str) for v in value))
    ):
        raise ConfigError(f'{where} must be a list of method names, e.g. ["psycopg2", "psql"].')


def _check_version_base(value: str) -> str:
    try:
        if len(value) == 14 and value.isascii() and value.isdigit():
            # What strptime accepts of 14 ASCII digits (each field its two digits) without
            # strptime, whose first call costs a millisecond on every run.
            month, day, hour, minute, second = (int(value[i : i + 2]) for i in range(4, 14, 2))
            datetime(int(value[:4]), month, day, hour, minute, second)
        else:
            datetime.strptime(value, "%Y%m%d%H%M%S")
    except ValueError:
        raise ConfigError(
            f"version_base {value!r} is not a 14-digit UTC timestamp YYYYMMDDHHMMSS "
            "(for example 20251201000000)."
        ) from None
    if len(value) != 14:
        raise ConfigError(f"version_base {value!r} must have exactly 14 digits (YYYYMMDDHHMMSS).")
    return value


def _check_duration(key: str, value: str) -> str:
    """A Postgres duration within Postgres's range, checked before anything connects."""
    parsed = durations.parse(value) if value else None
    if value and parsed is None:
        raise ConfigError(
            f"{key} {_shown(value)} is not a Postgres duration: use for example 5s, 500ms, 1.5s "
            "or 2min (0 or empty disables it)."
        )
    if parsed is not None:
        number, unit = parsed
        if not unit and number:
            shown = f"{number:g}"
            raise ConfigError(
                f"{key} {value!r} has no unit (Postgres would read milliseconds): write it with "
                f"one, for example {shown}s or {shown}ms."
            )
        ms = durations.to_ms(value) or 0
        if number and not ms:
            raise ConfigError(
                f"{key} {value!r} rounds to 0 ms, which Postgres reads as no limit: give at "
                "least 1ms, or 0 to disable it."
            )
        if ms > durations.MAX_MS:
            raise ConfigError(f"{key} {value!r} is too long: Postgres allows at most 24 days.")
    return value.strip()


def _check_int(key: str, value: object) -> int:
    text = str(value).strip()
    # ASCII digits only: int() also takes "1_0", "+5" and other scripts' digits.
    number = int(text) if type(value) is not bool and re.fullmatch("[0-9]{1,6}", text) else -1
    if number <= 0 or number > 86_400:
        raise ConfigError(
            f"{key} must be a whole number of seconds from 1 to 86400, got {_shown(value)}."
        )
    return number


def _shown(value: object) -> str:
    """A value as typed, on one line and short: a flag can hold a whole file."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_methods(value: object) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else list(value)  # type: ignore[call-overload]
    try:
        return check_order([str(item).strip() for item in items if str(item).strip()])
    except UsageError as exc:
        raise ConfigError(str(exc)) from None


def _migrations_dir(root: Path, value: str, sources: Mapping[str, str]) -> Path | None:
    """migrations/ is optional: a repo with only supabase/migrations works as it is. A folder
    someone configured must exist."""
    path = root / value
    if path.is_dir():
        return path
    if sources.get("migrations_dir") == "default":
        return None
    raise ConfigError(
        f"Migrations directory {path} does not exist ({sources.get('migrations_dir')}): "
        "create it, or fix migrations_dir."
    )


def _supabase_dir(root: Path, value: str, sources: Mapping[str, str]) -> Path:
    """The default supabase/ may be absent (the first mirror makes it). A folder someone
    configured must exist: a misspelt one read as "no migrations" would let a deploy go green
    having applied nothing."""
    path = root / value
    defaulted = sources.get("supabase_dir") == "default" or value == DEFAULTS["supabase_dir"]
    if defaulted or path.is_dir():  # the default named explicitly may be absent too
        return path
    raise ConfigError(
        f"Supabase directory {path} does not exist ({sources.get('supabase_dir')}): "
        "create it (`supabase init`), or fix supabase_dir."
    )


def find_root(start: Path) -> Path:
    """The project root: from `start` upward, the first folder holding `supabase/` or a
    pyproject.toml with [tool.supamigrate]."""
    for folder in (start, *start.parents):
        if (folder / "supabase").is_dir() or _has_tool_section(folder / "pyproject.toml"):
            return folder
    raise ConfigError(
        f"No Supabase project found in {start} or above it: run this inside a repo with a "
        "supabase/ folder (`npx supabase init` makes one), or add [tool.supamigrate] to its "
        "pyproject.toml."
    )


def _has_tool_section(path: Path) -> bool:
    if not path.is_file():
        return False
    try:
        return "supamigrate" in _read_toml(path).get("tool", {})
    except ConfigError:
        return True  # it names us but is broken: load_config will say how
