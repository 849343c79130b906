"""The one throwaway Postgres: the same code as `invoke db.start` (supamigrate.local.server),
in a temp directory on a free port, fsync off. The test harness and every benchmark use it.

Its major version is SUPAMIGRATE_TEST_PG (15 or 17; `nox` runs the suite once with each),
by default this repository's `[db] major_version`; binaries from the machine, else from the
npm builds `npm ci` puts in node_modules, exactly as `db.start` finds them.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from supamigrate.local import server as localdb
from supamigrate.local.binaries import SUPPORTED, configured_major

REPO = Path(__file__).resolve().parents[2]


def pg_major() -> int:
    """The Postgres major version this test run uses (SUPAMIGRATE_TEST_PG, else the repo's)."""
    wanted = os.environ.get("SUPAMIGRATE_TEST_PG", "").strip()
    if not wanted:
        return configured_major(REPO / "supabase")
    if not wanted.isdigit() or int(wanted) not in SUPPORTED:
        raise SystemExit(f"SUPAMIGRATE_TEST_PG={wanted!r}: use one of {SUPPORTED}")
    return int(wanted)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def local_server(root: Path, port: int | None = None) -> localdb.LocalServer:
    """A LocalServer under `root` of the test run's major version (not started)."""
    return localdb.LocalServer(root, port=port or free_port(), major=pg_major(), npm_roots=(REPO,))


@contextmanager
def throwaway_server(prefix: str) -> Iterator[tuple[localdb.LocalServer, Path]]:
    """Yield (a started server, a scratch directory beside it); stop and remove both after."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    root.chmod(0o755)  # the server runs as the postgres OS user when we are root
    server = local_server(root / "local")
    try:
        localdb.start(server, fast=True)
        yield server, root
    finally:
        localdb.stop(server)
        shutil.rmtree(root, ignore_errors=True)
