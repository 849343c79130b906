"""A throwaway local Postgres for one benchmark: same code as `invoke db.start`, fsync off."""

from __future__ import annotations

import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from supamigrate.local import server as localdb


@contextmanager
def throwaway_server(prefix: str) -> Iterator[tuple[localdb.LocalServer, Path]]:
    """Yield (server, a scratch directory); stop and remove both afterwards."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    root.chmod(0o755)  # the server runs as the postgres OS user when we are root
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = localdb.LocalServer(root / "local", port=port)
    try:
        localdb.start(server, fast=True)
        yield server, root
    finally:
        localdb.stop(server)
        shutil.rmtree(root, ignore_errors=True)
