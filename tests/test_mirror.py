"""`invoke mirror`: sources mirror byte-for-byte to CLI versions; bad files are named."""

from __future__ import annotations

from pathlib import Path

import pytest

from supamigrate.errors import UsageError
from supamigrate.files import discover_sources, version_for


def test_versions_are_base_plus_seconds() -> None:
    """NNN maps to the base timestamp plus NNN seconds: valid, increasing, stable."""
    assert version_for(1, "20251201000000") == "20251201000001"
    assert version_for(61, "20251201000000") == "20251201000101"
    assert version_for(86400, "20251201000000") == "20251202000000"
    versions = [version_for(n, "20251231235900") for n in range(1, 200)]
    assert versions == sorted(versions) and len(set(versions)) == 199


def test_mirror_writes_then_check_passes(project) -> None:
    """mirror writes identical bytes; --check is then clean; an edit makes --check fail."""
    project.write("001_first.sql", "select 1;\n")
    project.write("002_second.sql", "select 2;\n")
    assert project.invoke("mirror", "--check").returncode == 1
    assert project.invoke("mirror").returncode == 0
    mirrored = project.root / "supabase" / "migrations" / "20251201000002_second.sql"
    assert mirrored.read_bytes() == b"select 2;\n"
    assert project.invoke("mirror", "--check").returncode == 0
    project.write("002_second.sql", "select 22;\n")
    check = project.invoke("mirror", "--check")
    assert check.returncode == 1
    assert "002_second.sql -> 20251201000002_second.sql: stale" in check.stdout
    assert mirrored.read_bytes() == b"select 2;\n"  # --check changes nothing


def test_rename_replaces_the_old_mirror(project) -> None:
    """A renamed source replaces the mirror of the same version instead of adding a second."""
    project.write("001_old_name.sql", "select 1;\n")
    project.invoke("mirror")
    (project.root / "migrations" / "001_old_name.sql").rename(
        project.root / "migrations" / "001_new_name.sql"
    )
    assert "replaces 20251201000001_old_name.sql" in project.invoke("mirror", "--check").stdout
    project.invoke("mirror")
    names = sorted(p.name for p in (project.root / "supabase" / "migrations").glob("*.sql"))
    assert names == ["20251201000001_new_name.sql"]


@pytest.mark.parametrize(
    ("files", "needle"),
    [
        ({"001_Bad-Name.sql": b"select 1;"}, "001_Bad-Name.sql: migration file names"),
        ({"001_a.sql": b"select 1;", "1_b.sql": b"select 2;"}, "share the number 1"),
        (
            {"001_latin1.sql": "select 'caf\u00e9';".encode("latin-1")},
            "001_latin1.sql is not valid UTF-8",
        ),
    ],
)
def test_bad_sources_are_named(tmp_path: Path, files: dict[str, bytes], needle: str) -> None:
    """Bad names, duplicate numbers and non-UTF-8 files are usage errors naming the file."""
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    with pytest.raises(UsageError, match=needle):
        discover_sources(tmp_path)


def test_bad_source_stops_migrate_with_exit_2(project) -> None:
    """Through the task: exit 2 and a one-line message naming the file."""
    project.write("01_ok.sql", "select 1;")
    project.write("1_dup.sql", "select 1;")
    result = project.invoke("migrate", "--skip-confirm")
    assert result.returncode == 2
    assert "share the number 1" in result.stderr
