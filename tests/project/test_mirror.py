"""`invoke mirror`: versions assigned once, kept on rename/renumber/edit; the user's files untouched."""

from __future__ import annotations

import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from helpers.project import REPO
from supamigrate.errors import UsageError
from supamigrate.project.files import discover_sources
from supamigrate.project.mirror import MANIFEST_NAME, apply_mirror, plan_mirror, utc_now
from supamigrate.project.mirror_items import MirrorPlan, MirrorState

CLI = REPO / "node_modules" / ".bin" / "supabase"
NOON = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
SHIPPED = {
    1: "create_tenant_management_tables",
    2: "add_tenant_id_to_existing_tables",
    3: "backfill_tenant_data",
    4: "enable_rls_policies",
    5: "enforce_tenant_boundary",
}


def _mirror(root: Path, now: datetime = NOON, *, assign: bool = True) -> MirrorPlan:
    plan = plan_mirror(
        discover_sources(root / "migrations"),
        root / "supabase" / "migrations",
        now=now,
        assign=assign,
    )
    apply_mirror(plan)
    return plan


def _tree(tmp_path: Path) -> Path:
    (tmp_path / "migrations").mkdir()
    (tmp_path / "supabase" / "migrations").mkdir(parents=True)
    return tmp_path


def _names(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "supabase" / "migrations").iterdir())


def _src(root: Path, name: str, sql: str) -> Path:
    path = root / "migrations" / name
    path.write_text(sql)
    return path


def test_first_mirror_gets_now_in_order(tmp_path: Path) -> None:
    """Sources mirrored in one run get distinct increasing seconds from now, in NNN order."""
    root = _tree(tmp_path)
    _src(root, "002_b.sql", "select 2;")
    _src(root, "001_a.sql", "select 1;")
    _mirror(root)
    assert _names(root) == ["20260301120000_a.sql", "20260301120001_b.sql"]
    assert (root / "supabase" / "migrations" / "20260301120000_a.sql").read_text() == "select 1;"


def test_new_versions_come_after_every_existing_one(tmp_path: Path) -> None:
    """A version already later than the clock pushes the next one after it, never before."""
    root = _tree(tmp_path)
    (root / "supabase" / "migrations" / "20270101000000_future.sql").write_text("select 0;")
    _src(root, "001_a.sql", "select 1;")
    _mirror(root)
    assert "20270101000001_a.sql" in _names(root)


@pytest.mark.parametrize(
    ("old", "new", "sql"),
    [
        ("001_a.sql", "001_renamed.sql", "select 1;"),  # renamed
        ("001_a.sql", "007_a.sql", "select 1;"),  # renumbered
        ("001_a.sql", "001_a.sql", "select 11;"),  # edited
        ("001_a.sql", "001_renamed.sql", "select 11;"),  # renamed and edited
        ("001_a.sql", "007_a.sql", "select 11;"),  # renumbered and edited
        ("001_a.sql", "009_renamed.sql", "select 1;"),  # renamed and renumbered
    ],
)
def test_version_survives_rename_renumber_edit(
    tmp_path: Path, old: str, new: str, sql: str
) -> None:
    """Once assigned, a source's version stays; the mirror file follows its name and bytes."""
    root = _tree(tmp_path)
    _src(root, old, "select 1;")
    _mirror(root)
    (root / "migrations" / old).unlink()
    _src(root, new, sql)
    _mirror(root, datetime(2026, 4, 1, tzinfo=UTC))
    name = new.split("_", 1)[1]
    assert _names(root) == [f"20260301120000_{name}"]
    assert (root / "supabase" / "migrations" / f"20260301120000_{name}").read_text() == sql


def test_edit_is_stale_until_mirrored(tmp_path: Path) -> None:
    """An edited source makes its mirror stale; the plan says so and apply rewrites it."""
    root = _tree(tmp_path)
    _src(root, "001_a.sql", "select 1;")
    _mirror(root)
    _src(root, "001_a.sql", "select 2;")
    plan = plan_mirror(
        discover_sources(root / "migrations"),
        root / "supabase" / "migrations",
        now=NOON,
        assign=False,
    )
    assert plan.changes() == ["001_a.sql -> 20260301120000_a.sql: stale"]


def test_hand_written_file_at_the_old_rule_version_is_kept(tmp_path: Path) -> None:
    """Issue 15: a CLI file where the old rule put 001's mirror stays, byte for byte."""
    root = _tree(tmp_path)
    theirs = root / "supabase" / "migrations" / "20251201000001_x.sql"
    theirs.write_text("select 'mine';")
    _src(root, "001_a.sql", "select 1;")
    _mirror(root)
    _src(root, "001_a.sql", "select 2;")  # an edit, then a rename: theirs is never touched
    _mirror(root)
    (root / "migrations" / "001_a.sql").rename(root / "migrations" / "001_x.sql")
    _mirror(root)
    assert theirs.read_text() == "select 'mine';"
    assert _names(root) == ["20251201000001_x.sql", "20260301120000_x.sql"]


def test_file_in_the_way_is_an_error_naming_both(tmp_path: Path) -> None:
    """A file we did not write, at a version our mirror holds, stops the mirror unchanged."""
    root = _tree(tmp_path)
    _src(root, "001_a.sql", "select 1;")
    _mirror(root)
    theirs = root / "supabase" / "migrations" / "20260301120000_mine.sql"
    theirs.write_text("select 'mine';")
    _src(root, "001_a.sql", "select 2;")
    with pytest.raises(UsageError, match=r"20260301120000_mine.sql is in the way of .*001_a.sql"):
        _mirror(root)
    assert theirs.read_text() == "select 'mine';"
    assert (root / "supabase" / "migrations" / "20260301120000_a.sql").read_text() == "select 1;"


def test_deleted_source_removes_only_our_mirror(tmp_path: Path) -> None:
    """Our mirror of a deleted source goes; a user's file with the same bytes stays."""
    root = _tree(tmp_path)
    (root / "supabase" / "migrations" / "20250101000000_copy.sql").write_text("select 1;")
    _src(root, "001_a.sql", "select 1;")
    _mirror(root)
    (root / "migrations" / "001_a.sql").unlink()
    plan = _mirror(root)
    assert [i.state for i in plan.items] == [MirrorState.ORPHANED]
    assert _names(root) == ["20250101000000_copy.sql"]


def test_legacy_lookalike_with_other_bytes_is_refused(tmp_path: Path) -> None:
    """A file named by the old rule (base + NNN s) but with other bytes: an error, untouched."""
    root = _tree(tmp_path)
    legacy = root / "supabase" / "migrations" / "20251201000003_c.sql"
    legacy.write_text("select 3;")
    _src(root, "003_c.sql", "select 33;")
    sources = discover_sources(root / "migrations")
    with pytest.raises(
        UsageError, match=r"20251201000003_c\.sql has the name an older supamigrate"
    ):
        plan_mirror(sources, legacy.parent, now=NOON, assign=True, legacy_base="20251201000000")
    _src(root, "003_c.sql", "select 3;")  # same bytes: adopted as ours, version kept
    plan = plan_mirror(
        discover_sources(root / "migrations"),
        legacy.parent,
        now=NOON,
        assign=True,
        legacy_base="20251201000000",
    )
    assert [(i.state, i.version) for i in plan.items] == [(MirrorState.RELINKED, "20251201000003")]


def test_shipped_migrations_keep_their_versions() -> None:
    """This repo's 001-005 map to 2025120100000N, without assigning anything (as in CI)."""
    sources = [s for s in discover_sources(REPO / "migrations") if s.number in SHIPPED]
    plan = plan_mirror(sources, REPO / "supabase" / "migrations", now=NOON, assign=False)
    got = {i.source.number: i.target.name for i in plan.items if i.source and i.target}
    assert got == {n: f"2025120100000{n}_{name}.sql" for n, name in SHIPPED.items()}
    ours = [i for i in plan.items if i.source is not None]  # users' own migrations aside
    assert all(i.state is MirrorState.OK for i in ours), plan.changes()


def test_ci_assigns_nothing(project: Any) -> None:
    """With CI=true an unmirrored source fails mirror --check (1) and migrate (2), naming it."""
    project.write("001_first.sql", "select 1;\n")
    project.env["CI"] = "true"
    check = project.invoke("mirror", "--check")
    assert check.returncode == 1 and "001_first.sql: not mirrored yet" in check.stdout
    migrate = project.invoke("migrate", "--skip-confirm")
    assert migrate.returncode == 2 and "run `invoke mirror`" in migrate.stderr
    del project.env["CI"]
    assert project.invoke("mirror").returncode == 0
    project.env["CI"] = "true"
    assert project.invoke("mirror", "--check").returncode == 0
    assert project.invoke("migrate", "--skip-confirm").returncode == 0


def test_mirror_writes_then_check_passes(project: Any) -> None:
    """mirror writes identical bytes and the manifest; --check is then clean; edits are stale."""
    project.write("001_first.sql", "select 1;\n")
    project.write("002_second.sql", "select 2;\n")
    assert project.invoke("mirror", "--check").returncode == 1
    assert project.invoke("mirror").returncode == 0
    mirrored = project.root / "supabase" / "migrations" / "20251201000002_second.sql"
    assert mirrored.read_bytes() == b"select 2;\n"
    manifest = (project.root / "supabase" / MANIFEST_NAME).read_text()
    assert "20251201000002_second.sql <- 002_second.sql" in manifest
    assert project.invoke("mirror", "--check").returncode == 0
    project.write("002_second.sql", "select 22;\n")
    check = project.invoke("mirror", "--check")
    assert check.returncode == 1
    assert "002_second.sql -> 20251201000002_second.sql: stale" in check.stdout
    assert mirrored.read_bytes() == b"select 2;\n"  # --check changes nothing


def _cli_new(root: Path, name: str) -> Path:
    made = subprocess.run(
        [str(CLI), "migration", "new", name, "--workdir", str(root)],
        capture_output=True,
        text=True,
        check=True,
        stdin=subprocess.DEVNULL,
    )
    assert "Created new migration" in made.stdout + made.stderr
    return next((root / "supabase" / "migrations").glob(f"*_{name}.sql"))


@pytest.mark.skipif(not CLI.exists(), reason="Supabase CLI not installed: run `npm ci`")
def test_interleaves_with_supabase_migration_new(project: Any) -> None:
    """CLI files and NNN files run in the order written, with the real clock, no --include-all."""
    del project.env["SOURCE_DATE_EPOCH"]
    project.write("001_a.sql", "create table public.a (id int);\n")
    assert project.invoke("migrate", "--skip-confirm").returncode == 0
    time.sleep(1.1)  # the CLI takes the current second, whatever exists: not 001's second
    by_cli = _cli_new(project.root, "by_cli")
    by_cli.write_text("create table public.c (id int);\n")
    project.write("002_b.sql", "create table public.b (id int);\n")
    result = project.invoke("migrate", "--skip-confirm")
    assert result.returncode == 0, result.stdout + result.stderr
    order = [
        p.name.split("_", 1)[1]
        for p in sorted((project.root / "supabase" / "migrations").glob("*.sql"))
    ]
    assert order == ["a.sql", "by_cli.sql", "b.sql"]
    assert by_cli.read_text() == "create table public.c (id int);\n"
    assert utc_now({}).year >= 2026


@pytest.mark.skipif(not CLI.exists(), reason="Supabase CLI not installed: run `npm ci`")
def test_the_cli_ignores_the_manifest(project: Any) -> None:
    """`supabase migration list` and `db push` with the manifest present: no warning, applied."""
    from helpers.supabase_cli import push, rows

    project.write("001_a.sql", "create table public.a (id int);\n")
    assert project.invoke("mirror").returncode == 0
    assert (project.root / "supabase" / MANIFEST_NAME).is_file()
    (project.root / "supabase" / "config.toml").write_bytes(
        (REPO / "supabase" / "config.toml").read_bytes()
    )
    listing = subprocess.run(
        [str(CLI), "migration", "list", "--workdir", str(project.root)],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert "Skipping" not in listing.stdout + listing.stderr
    pushed = push(project.root, project.target)
    assert pushed.returncode == 0, pushed.stderr
    assert "Skipping" not in pushed.stdout + pushed.stderr
    assert [r[0] for r in rows(project.target)] == ["20251201000001"]


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


def test_bad_source_stops_migrate_with_exit_2(project: Any) -> None:
    """Through the task: exit 2 and a one-line message naming the file."""
    project.write("01_ok.sql", "select 1;")
    project.write("1_dup.sql", "select 1;")
    result = project.invoke("migrate", "--skip-confirm")
    assert result.returncode == 2
    assert "share the number 1" in result.stderr


@pytest.mark.skipif(not CLI.exists(), reason="Supabase CLI not installed: run `npm ci`")
def test_a_name_the_cli_skips_is_said_skipped_as_the_cli_says(project: Any) -> None:
    """Differential against the real CLI: each file in supabase/migrations that
    `supabase migration list` skips with a warning, `invoke status` names as skipped too."""
    from helpers.supabase_cli import cli

    folder = project.root / "supabase" / "migrations"
    names = ["20260101000008_upper.SQL", "abc.sql", "-b.sql", "20260101000009_ok.sql"]
    for name in names:
        (folder / name).write_text("select 1;\n")
    (project.root / "supabase" / "config.toml").write_bytes(
        (REPO / "supabase" / "config.toml").read_bytes()
    )
    theirs = cli(project.root, project.target, "migration", "list")
    ours = project.invoke("status")
    for name in names:
        said_by_cli = f"Skipping migration {name}" in theirs.stdout + theirs.stderr
        said_by_us = f"Skipping {name}" in ours.stdout + ours.stderr
        assert said_by_cli == said_by_us, (name, theirs.stderr, ours.stdout + ours.stderr)
    assert "Skipping migration 20260101000008_upper.SQL" in theirs.stdout + theirs.stderr
