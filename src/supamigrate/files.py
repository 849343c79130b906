"""Migration files on disk: the sources people write and the files in supabase/migrations.

How sources get their versions in supabase/migrations is mirror.py's business. Files made
directly in supabase/migrations are first-class. Nothing here touches a database.
"""

from __future__ import annotations

import functools
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from supamigrate.errors import ConfigError, UsageError
from supamigrate.sqlsplit import strip_bom

# ASCII digits only: Arabic-Indic or other Unicode digits are not a migration number.
SOURCE_NAME = re.compile(r"^(?P<number>[0-9]+)_(?P<name>[a-z0-9_]+)\.sql$")
# The Supabase CLI's own pattern (pkg/migration/file.go); other files are skipped with a warning.
CLI_NAME = re.compile(r"^(?P<version>[0-9]+)_(?P<name>.*)\.sql$")
_VERSION_FORMAT = "%Y%m%d%H%M%S"


@dataclass(frozen=True)
class SourceFile:
    number: int
    name: str
    path: Path
    content: bytes

    @property
    def label(self) -> str:
        return self.path.stem


@dataclass(frozen=True)
class MigrationFile:
    """A file in supabase/migrations: what gets applied, in version order."""

    version: str
    name: str
    path: Path
    sql: str
    label: str  # what people call it: NNN_name for mirrored sources, else the file stem


@functools.lru_cache(maxsize=8)
def _base_time(base: str) -> datetime:
    return datetime.strptime(base, _VERSION_FORMAT)


def version_for(number: int, base: str) -> str | None:
    """The legacy version rule (base + NNN seconds): only to recognise mirrors written by it.
    None where the rule gives no 14-digit timestamp (a number that large never had one)."""
    try:
        version = (_base_time(base) + timedelta(seconds=number)).strftime(_VERSION_FORMAT)
    except (OverflowError, ValueError):
        return None
    return version if len(version) == 14 else None


def sql_files(directory: Path) -> list[Path]:
    """The directory's entries, sorted, without a stat per entry (os.scandir's d_type)."""
    try:
        with os.scandir(directory) as entries:
            names = sorted(e.name for e in entries if not _is_dir(e))
    except OSError as exc:
        raise UsageError(f"{directory} cannot be listed ({exc.strerror}): fix it.") from None
    return [directory / name for name in names]


def _is_dir(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir()
    except OSError:  # a symlink loop: a file to refuse by name, not a crash
        return False


def read_utf8(path: Path, content: bytes | None = None) -> str:
    """The file's text without a leading BOM: the CLI strips it, and the server would not."""
    data = path.read_bytes() if content is None else content
    try:
        return strip_bom(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"{path} is not valid UTF-8 (byte {exc.start}): re-save it as UTF-8 and retry."
        ) from None


def discover_sources(directory: Path) -> list[SourceFile]:
    """Every NNN_name.sql in `directory`, sorted; bad names, duplicates, non-UTF-8 are errors."""
    if not directory.is_dir():
        raise ConfigError(
            f"Migrations directory {directory} does not exist: create it, or set "
            "migrations_dir in [tool.supamigrate]."
        )
    sources: dict[int, SourceFile] = {}
    for path in sql_files(directory):  # a dangling link or a FIFO is read, and fails loudly
        if path.name.startswith("."):
            continue
        match = SOURCE_NAME.match(path.name)
        if not match:
            raise UsageError(
                f"{path}: migration file names must look like 001_create_tables.sql "
                "(digits, underscore, lowercase letters/digits/underscores, .sql): rename it."
            )
        number = int(match.group("number"))
        if number in sources:
            raise UsageError(
                f"{path} and {sources[number].path} share the number {number}: "
                "renumber one of them (numbers must be unique)."
            )
        content = _read_bytes(path)
        read_utf8(path, content)
        sources[number] = SourceFile(number, match.group("name"), path, content)
    return [sources[n] for n in sorted(sources)]


def _read_bytes(path: Path) -> bytes:
    """A regular file's bytes; a FIFO, device or socket is refused, never waited on."""
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            raise UsageError(f"{path} is not a regular file: replace it with one, or remove it.")
        return path.read_bytes()
    except OSError as exc:
        raise UsageError(
            f"{path} cannot be read ({exc.strerror}): fix the file or its permissions."
        ) from None


def discover_migrations(
    mirror_dir: Path,
    labels: Mapping[str, str],
    known: Mapping[Path, str] | None = None,
) -> tuple[list[MigrationFile], list[str]]:
    """Everything applicable in supabase/migrations, in version order, plus skip warnings.

    `labels` names versions after their sources (NNN_name); `known` gives texts already in
    hand (the mirrors of sources), which are not read again.
    """
    known = known or {}
    migrations: dict[str, MigrationFile] = {}
    warnings: list[str] = []
    if not mirror_dir.is_dir():
        return [], warnings
    for path in sql_files(mirror_dir):
        if path.suffix != ".sql":
            continue
        match = CLI_NAME.match(path.name)
        if not match:
            warnings.append(f"Skipping {path.name}: the Supabase CLI needs <timestamp>_name.sql.")
            continue
        version = match.group("version")
        if version in migrations:
            raise UsageError(
                f"{path.name} and {migrations[version].path.name} share version {version}: "
                "remove or renumber one of them."
            )
        sql = known[path] if path in known else read_utf8(path, _read_bytes(path))
        label = labels.get(version, path.stem)
        migrations[version] = MigrationFile(version, match.group("name"), path, sql, label)
    ordered = sorted(migrations.values(), key=lambda m: m.version)  # lexical, as the CLI
    return ordered, warnings
