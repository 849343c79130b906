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
    """Starting on a port another server holds fails with a message naming the likely cause."""
    busy = localdb.LocalServer(server.root, port=pg_server.admin.port)  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match="already in use"):
        localdb.start(busy)


def test_missing_binaries_name_the_package(tmp_path: Path) -> None:
    """Without Postgres binaries the error says what to install."""
    with pytest.raises(ConfigError, match="apt-get install postgresql"):
        localdb.find_bindir(path=str(tmp_path), lib_glob=str(tmp_path / "*" / "bin"))
