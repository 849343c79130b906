"""The one throwaway Postgres: the same code as `invoke db.start` (supamigrate.local.server),
in a temp directory on a free port, fsync off. The test harness and every benchmark use it."""

from __future__ import annotations

import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from supamigrate.local import server as localdb


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def throwaway_server(prefix: str) -> Iterator[tuple[localdb.LocalServer, Path]]:
    """Yield (a started server, a scratch directory beside it); stop and remove both after."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    root.chmod(0o755)  # the server runs as the postgres OS user when we are root
    server = localdb.LocalServer(root / "local", port=free_port())
    try:
        localdb.start(server, fast=True)
        yield server, root
    finally:
        localdb.stop(server)
        shutil.rmtree(root, ignore_errors=True)
