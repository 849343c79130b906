"""Migration files on disk: the sources people write, their versions, and the CLI mirror.

`migrations/NNN_name.sql` mirrors to `supabase/migrations/<version>_name.sql` (same bytes),
where <version> is the configured base timestamp plus NNN seconds: deterministic, strictly
increasing, and stable forever. Files made directly in supabase/migrations are first-class.
Nothing here touches a database.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from pathlib import Path

from supamigrate.errors import ConfigError, UsageError
from supamigrate.sqlsplit import strip_bom

SOURCE_NAME = re.compile(r"^(?P<number>\d+)_(?P<name>[a-z0-9_]+)\.sql$")
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


def version_for(number: int, base: str) -> str:
    return (_base_time(base) + timedelta(seconds=number)).strftime(_VERSION_FORMAT)


def _sql_files(directory: Path) -> list[Path]:
    """The directory's entries, sorted, without a stat per entry (os.scandir's d_type)."""
    with os.scandir(directory) as entries:
        names = sorted(e.name for e in entries if not e.is_dir())
    return [directory / name for name in names]


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
    for path in _sql_files(directory):  # a dangling link or a FIFO is read, and fails loudly
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
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UsageError(
            f"{path} cannot be read ({exc.strerror}): fix the file or its permissions."
        ) from None


class MirrorState(Enum):
    OK = "ok"
    MISSING = "missing"
    STALE = "stale"  # the mirror exists but its bytes differ
    RENAMED = "renamed"  # a file with this version but another name is in the way


@dataclass(frozen=True)
class MirrorItem:
    source: SourceFile
    target: Path
    state: MirrorState
    obsolete: Path | None = None  # the differently named file a rename replaces

    def describe(self) -> str:
        rel = f"{self.source.path.name} -> {self.target.name}"
        if self.state is MirrorState.RENAMED and self.obsolete is not None:
            return f"{rel}: replaces {self.obsolete.name} (same version, other name)"
        return f"{rel}: {self.state.value}"


def plan_mirror(sources: list[SourceFile], mirror_dir: Path, base: str) -> list[MirrorItem]:
    existing: dict[str, list[Path]] = {}
    if mirror_dir.is_dir():
        for path in _sql_files(mirror_dir):
            match = CLI_NAME.match(path.name) if path.suffix == ".sql" else None
            if match:
                existing.setdefault(match.group("version"), []).append(path)
    items = []
    for source in sources:
        version = version_for(source.number, base)
        target = mirror_dir / f"{version}_{source.name}.sql"
        others = [p for p in existing.get(version, []) if p != target]
        if others:
            items.append(MirrorItem(source, target, MirrorState.RENAMED, others[0]))
        else:
            items.append(MirrorItem(source, target, _compare(target, source.content)))
    return items


def _compare(target: Path, content: bytes) -> MirrorState:
    try:
        return MirrorState.OK if target.read_bytes() == content else MirrorState.STALE
    except FileNotFoundError:
        return MirrorState.MISSING


def apply_mirror(items: list[MirrorItem]) -> list[MirrorItem]:
    """Write every mirror that is not OK; return what changed."""
    changed = [item for item in items if item.state is not MirrorState.OK]
    for item in changed:
        item.target.parent.mkdir(parents=True, exist_ok=True)
        if item.obsolete is not None:
            item.obsolete.unlink()
        item.target.write_bytes(item.source.content)
    return changed


def discover_migrations(
    mirror_dir: Path,
    sources: list[SourceFile],
    base: str,
    known: Mapping[Path, str] | None = None,
) -> tuple[list[MigrationFile], list[str]]:
    """Everything applicable in supabase/migrations, in version order, plus skip warnings.

    `known` gives texts already in hand (the mirrors of sources), which are not read again.
    """
    known = known or {}
    labels = {version_for(s.number, base): s.label for s in sources}
    migrations: dict[str, MigrationFile] = {}
    warnings: list[str] = []
    if not mirror_dir.is_dir():
        return [], warnings
    for path in _sql_files(mirror_dir):
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
