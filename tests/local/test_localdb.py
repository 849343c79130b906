"""`invoke db.*`'s library: a real server that starts once, stops, resets, and explains itself."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers.server import local_server
from supamigrate.connect.db import session
from supamigrate.errors import ConfigError
from supamigrate.local import server as localdb


@pytest.fixture
def server() -> Iterator[localdb.LocalServer]:
    root = Path(tempfile.mkdtemp(prefix="supamigrate-localdb-"))
    root.chmod(0o755)  # the postgres OS user must reach the data dir below it
    srv = local_server(root / "local")
    yield srv
    localdb.stop(srv)
    shutil.rmtree(root, ignore_errors=True)


def test_start_twice_stop_status_and_reset(server: localdb.LocalServer) -> None:
    """start is idempotent, the URL works with password postgres, reset empties the database."""
    assert "started" in localdb.start(server, fast=True)
    assert "already running" in localdb.start(server, fast=True)
    assert localdb.status(server).running
    with session(server.user_target()) as conn, conn.cursor() as cur:
        cur.execute("select auth.uid(), current_user")
        assert cur.fetchone() == (None, "postgres")
        cur.execute("create table public.leftover (id int)")
    localdb.reset(server)
    with session(server.user_target()) as conn, conn.cursor() as cur:
        cur.execute("select to_regclass('public.leftover'), to_regclass('auth.users') is not null")
        assert cur.fetchone() == (None, True)
    assert localdb.stop(server) == "Local database stopped."
    assert not localdb.status(server).running
    assert localdb.stop(server) == "Local database is not running."
    assert "started" in localdb.start(server, fast=True)  # restarts an existing data dir


def test_port_in_use_is_explained(server: localdb.LocalServer, pg_server: object) -> None:
    """Starting on a port another project's local server holds (the tests' own is made by the
    same code as db.start) names it, its major and the two ways on; a database for this app
    can be made there, with a note when its major is not the one config.toml asks for."""
    theirs = pg_server.server  # type: ignore[attr-defined]
    other = 17 if theirs.major == 15 else 15
    busy = localdb.LocalServer(server.root, port=theirs.port, major=other)
    with pytest.raises(ConfigError) as refused:
        localdb.start(busy)
    said = str(refused.value)
    assert "another project's local database" in said and str(theirs.data_dir) in said, said
    assert f"PostgreSQL {theirs.major}" in said and "db.create NAME" in said, said
    made = localdb.create_database(busy, "shared_app")
    try:
        assert made.splitlines()[0].startswith("Local database shared_app created"), made
        assert f"another project's (PostgreSQL {theirs.major}" in made, made
        assert f"asks for {other}" in made, made
    finally:
        with session(theirs.admin_target(), autocommit=True) as conn, conn.cursor() as cur:
            cur.execute("drop database if exists shared_app")


def test_any_other_server_on_the_port_is_explained(server: localdb.LocalServer) -> None:
    """Something that is not a local supamigrate server holds the port: the general line."""
    import socket

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        busy = localdb.LocalServer(server.root, port=holder.getsockname()[1])
        with pytest.raises(ConfigError, match="already in use by another server"):
            localdb.start(busy)


def test_missing_binaries_name_the_package(tmp_path: Path) -> None:
    """Without Postgres binaries the error says what to install."""
    with pytest.raises(ConfigError, match="apt-get install postgresql"):
        localdb.find_bindir(path=str(tmp_path), lib_glob=str(tmp_path / "*" / "bin"))
