"""A real PgBouncer in transaction mode in front of the test server: the stand-in for
Supabase's transaction pooler (Supavisor, port 6543), where consecutive transactions of one
client may run on different server connections."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from helpers.server import free_port
from supamigrate.connect.dburl import DbTarget

BINARY = shutil.which("pgbouncer") or (
    "/usr/sbin/pgbouncer" if Path("/usr/sbin/pgbouncer").exists() else None
)


@contextmanager
def pgbouncer(
    server: DbTarget, *, pool_size: int = 3, ignore: str = "extra_float_digits,options"
) -> Iterator[int]:
    """Run PgBouncer (transaction pooling) for `server`'s user; yield its port. `ignore`: the
    startup parameters it drops silently; any other but the few it tracks, it refuses."""
    assert BINARY is not None
    root = Path(tempfile.mkdtemp(prefix="supamigrate-pgbouncer-"))
    root.chmod(0o755)
    port = free_port()
    (root / "userlist.txt").write_text(f'"{server.user}" "{server.password}"\n')
    (root / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"* = host={server.host} port={server.port}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = scram-sha-256\nauth_file = {root / 'userlist.txt'}\n"
        f"pool_mode = transaction\ndefault_pool_size = {pool_size}\nmax_client_conn = 100\n"
        f"logfile = {root / 'pgbouncer.log'}\npidfile = {root / 'pgbouncer.pid'}\n"
        f"ignore_startup_parameters = {ignore}\n"
        # Hand out server connections in turn, so one client's consecutive transactions
        # really do run on different backends.
        "server_round_robin = 1\n"
    )
    command = [BINARY, str(root / "pgbouncer.ini")]
    if os.geteuid() == 0:  # PgBouncer refuses to run as root: -u drops to the postgres user
        import pwd

        owner = pwd.getpwnam("postgres")
        for path in [root, *root.iterdir()]:
            os.chown(path, owner.pw_uid, owner.pw_gid)
        command[1:1] = ["-u", "postgres"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_listening(port, process)
        _open_server_connections(server, port, pool_size)
        yield port
    finally:
        process.terminate()
        process.wait(10)
        shutil.rmtree(root, ignore_errors=True)


def _open_server_connections(server: DbTarget, port: int, count: int) -> None:
    """Hold `count` transactions open at once, so the pool really has `count` backends."""
    from supamigrate.connect.db import connect

    through = DbTarget("127.0.0.1", port, server.user, server.database, server.password)
    clients = [connect(through) for _ in range(count)]
    for client in clients:
        client.cursor().execute("select 1")  # psycopg2 opens a transaction: a backend each
    for client in clients:
        client.rollback()
        client.close()


def _wait_listening(port: int, process: subprocess.Popen[bytes]) -> None:
    import socket

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"pgbouncer exited: {process.stderr.read().decode() if process.stderr else ''}"
            )
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError("pgbouncer did not start listening")
