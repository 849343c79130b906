"""A real PostgreSQL server from the machine's binaries, shaped like Supabase's.

`invoke db.start` and the test harness both use `LocalServer`: initdb with a bootstrap
superuser `supabase_admin`, then a `postgres` role made as Supabase makes it (NOSUPERUSER
CREATEROLE CREATEDB BYPASSRLS, password `postgres`) that owns the `postgres` database, then
the compatibility shim. Run as root, every server process runs as the `postgres` OS user
(initdb and postgres refuse to run as root).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from supamigrate.config import LOCAL_PASSWORD
from supamigrate.db import session
from supamigrate.dburl import DbTarget
from supamigrate.errors import ConfigError, SupamigrateError
from supamigrate.masking import mask

LOCAL_PORT = 54322
LOCAL_HOST = "127.0.0.1"
SUPERUSER = "supabase_admin"
PASSWORD = LOCAL_PASSWORD  # the documented local default, as `supabase start` uses
_BINARIES = ("initdb", "pg_ctl", "postgres")
_INSTALL_HINT = (
    "No PostgreSQL server binaries (initdb, pg_ctl, postgres) found on PATH, via pg_config, or "
    "in /usr/lib/postgresql/*/bin. Install them (Debian/Ubuntu: `apt-get install postgresql`; "
    "macOS: `brew install postgresql@15`) or put their directory on PATH."
)
_FAST_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


@dataclass(frozen=True)
class LocalServer:
    """One local cluster: data, log and socket under `root`, listening on 127.0.0.1:`port`."""

    root: Path
    port: int = LOCAL_PORT
    host: str = LOCAL_HOST

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        return self.root / "postgres.log"

    def admin_target(self, database: str = "postgres") -> DbTarget:
        """The bootstrap superuser: for setup only, never for applying migrations."""
        return DbTarget(self.host, self.port, SUPERUSER, database, PASSWORD)

    def user_target(self, database: str = "postgres") -> DbTarget:
        """The Supabase-like `postgres` role that migrations run as."""
        return DbTarget(self.host, self.port, "postgres", database, PASSWORD)


@dataclass(frozen=True)
class ServerStatus:
    running: bool
    initialized: bool
    detail: str


def find_bindir(path: str | None = None, lib_glob: str = "/usr/lib/postgresql/*/bin") -> Path:
    """The directory holding initdb, pg_ctl and postgres; ConfigError naming the package if none."""
    candidates: list[Path] = []
    found = shutil.which("pg_ctl", path=path)
    if found:
        candidates.append(Path(found).resolve().parent)
    pg_config = shutil.which("pg_config", path=path)
    if pg_config:
        result = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        if result.returncode == 0:
            candidates.append(Path(result.stdout.strip()))
    versions = sorted(glob.glob(lib_glob), key=_version_key, reverse=True)  # noqa: PTH207
    candidates.extend(Path(p) for p in versions)
    for candidate in candidates:
        if all((candidate / name).is_file() for name in _BINARIES):
            return candidate
    raise ConfigError(_INSTALL_HINT)


def _version_key(path: str) -> float:
    try:
        return float(Path(path).parent.name)
    except ValueError:
        return 0.0


def status(server: LocalServer) -> ServerStatus:
    if not (server.data_dir / "PG_VERSION").is_file():
        return ServerStatus(False, False, f"not initialised ({server.data_dir} does not exist)")
    result = _pg_ctl(server, ["status"], check=False)
    if result.returncode == 0:
        return ServerStatus(True, True, f"running on {server.host}:{server.port}")
    return ServerStatus(False, True, "stopped")


def start(server: LocalServer, *, fast: bool = False) -> str:
    """Initialise if needed, start, bootstrap roles and the shim. Idempotent; returns a message."""
    current = status(server)
    if current.running:
        return f"Local database already running on {server.host}:{server.port}."
    _check_port_free(server)
    if not current.initialized:
        _initdb(server, settings=_FAST_SETTINGS if fast else {})
    _pg_ctl(server, ["start", "-w", "-t", "60", "-l", str(server.log_file)])
    _bootstrap(server)
    return f"Local database started on {server.host}:{server.port} (data in {server.data_dir})."


def stop(server: LocalServer) -> str:
    if not status(server).running:
        return "Local database is not running."
    _pg_ctl(server, ["stop", "-w", "-m", "fast"])
    return "Local database stopped."


def reset(server: LocalServer) -> str:
    """Drop and recreate the `postgres` database: empty, with the shim. Starts the server."""
    start(server)
    from supamigrate.local.shim import install_shim

    with session(server.admin_target("template1"), autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("drop database if exists postgres with (force)")
        cur.execute("create database postgres owner postgres")
    install_shim(server.admin_target("postgres"))
    return "Local database reset: empty `postgres` database with the Supabase shim."


def _initdb(server: LocalServer, *, settings: dict[str, str]) -> None:
    server.root.mkdir(parents=True, exist_ok=True)
    owner = _server_os_user()
    if owner is not None:
        os.chown(server.root, owner.pw_uid, owner.pw_gid)
        reachable = _run_as_server_user(["test", "-w", str(server.root)], what="test", check=False)
        if reachable.returncode != 0:
            raise ConfigError(
                f"The postgres OS user cannot write {server.root}: make its parent directories "
                "traversable (chmod o+x on each) or keep the project outside /root, then retry."
            )
    pwfile = server.root / ".pwfile"
    pwfile.write_text(PASSWORD + "\n", encoding="utf-8")
    try:
        if owner is not None:
            os.chown(pwfile, owner.pw_uid, owner.pw_gid)
        pwfile.chmod(0o600)
        _run_as_server_user(
            [
                str(find_bindir() / "initdb"),
                "-D",
                str(server.data_dir),
                "-U",
                SUPERUSER,
                f"--pwfile={pwfile}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--no-locale",
                "--no-instructions",
            ],
            what="initdb",
        )
    finally:
        pwfile.unlink(missing_ok=True)
    conf = {
        "listen_addresses": f"'{server.host}'",
        "port": str(server.port),
        "unix_socket_directories": f"'{server.root}'",
        "max_connections": "200",
        **settings,
    }
    with (server.data_dir / "postgresql.conf").open("a", encoding="utf-8") as fh:
        fh.write("\n# supamigrate local server\n")
        fh.writelines(f"{key} = {value}\n" for key, value in conf.items())


def _bootstrap(server: LocalServer) -> None:
    """Create the Supabase-like `postgres` role and give it the database, then the shim."""
    from supamigrate.local.shim import install_shim

    with session(server.admin_target()) as conn, conn.cursor() as cur:
        cur.execute("select 1 from pg_roles where rolname = 'postgres'")
        if cur.fetchone() is None:
            cur.execute(
                "create role postgres login nosuperuser createrole createdb bypassrls "
                "replication password %s",
                (PASSWORD,),
            )
        cur.execute("alter database postgres owner to postgres")
    install_shim(server.admin_target())


def port_answers(server: LocalServer) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1)
        return sock.connect_ex((server.host, server.port)) == 0


def _check_port_free(server: LocalServer) -> None:
    if port_answers(server):
        raise ConfigError(
            f"Port {server.port} on {server.host} is already in use by another server "
            "(is `supabase start` running? Its database serves the same URL, so you do not "
            "need db.start). Stop it or free the port, then retry."
        )


def _pg_ctl(
    server: LocalServer, args: Sequence[str], *, check: bool = True
) -> subprocess.CompletedProcess[str]:
    cmd = [str(find_bindir() / "pg_ctl"), "-D", str(server.data_dir), *args]
    return _run_as_server_user(cmd, what="pg_ctl " + args[0], check=check)


def _run_as_server_user(
    cmd: list[str], *, what: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    owner = _server_os_user()
    env = dict(os.environ)
    if owner is not None:
        env["HOME"] = owner.pw_dir
    result = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        env=env,
        cwd="/",
        stdin=subprocess.DEVNULL,
        user=owner.pw_uid if owner else None,
        group=owner.pw_gid if owner else None,
        extra_groups=[] if owner else None,
    )
    if check and result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        last = detail[-1] if detail else f"exit code {result.returncode}"
        raise SupamigrateError(f"{what} failed: {mask(last)}. See the full log in the data dir.")
    return result


def _server_os_user() -> pwd.struct_passwd | None:
    """The `postgres` OS user when we are root (Postgres will not run as root), else None."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        raise ConfigError(
            "Running as root, but there is no `postgres` OS user to run the server as: "
            "create one with `useradd --system --create-home postgres` and retry."
        ) from None
