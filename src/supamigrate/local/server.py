"""A real PostgreSQL server from the machine's binaries, shaped like Supabase's.

`invoke db.start` and the test harness both use `LocalServer`: initdb with a bootstrap
superuser `supabase_admin`, then a `postgres` role made as Supabase makes it (NOSUPERUSER
CREATEROLE CREATEDB BYPASSRLS, password `postgres`) that owns the `postgres` database, then
the compatibility shim. Run as root, every server process runs as the `postgres` OS user
(initdb and postgres refuse to run as root).
"""

from __future__ import annotations

import os
import pwd
import re
import socket
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from supamigrate.connect.db import session
from supamigrate.connect.dburl import DbTarget
from supamigrate.connect.masking import mask
from supamigrate.errors import ConfigError, SupamigrateError, UsageError
from supamigrate.local.binaries import data_major, find_bindir
from supamigrate.run.config import LOCAL_PASSWORD

__all__ = [
    "LocalServer",
    "ServerStatus",
    "create_database",
    "find_bindir",
    "reset",
    "start",
    "status",
    "stop",
]

LOCAL_PORT = 54322
LOCAL_HOST = "127.0.0.1"
SUPERUSER = "supabase_admin"
PASSWORD = LOCAL_PASSWORD  # the documented local default, as `supabase start` uses
_DB_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")
_FAST_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


@dataclass(frozen=True)
class LocalServer:
    """One local cluster: data, log and socket under `root`, listening on 127.0.0.1:`port`."""

    root: Path
    port: int = LOCAL_PORT
    host: str = LOCAL_HOST
    major: int | None = None  # the Postgres major version to run (None: whichever is found)
    npm_roots: tuple[Path, ...] = ()  # folders whose node_modules may hold the npm builds

    def bindir(self) -> Path:
        """The binaries for this cluster: its data's version once made, else `major`."""
        return find_bindir(data_major(self.data_dir) or self.major, roots=self.npm_roots)

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


def status(server: LocalServer) -> ServerStatus:
    if not (server.data_dir / "PG_VERSION").is_file():
        return ServerStatus(False, False, f"not initialised ({server.data_dir} does not exist)")
    result = _pg_ctl(server, ["status"], check=False)
    version = f"PostgreSQL {data_major(server.data_dir)}"
    if result.returncode == 0:
        return ServerStatus(True, True, f"running on {server.host}:{server.port} ({version})")
    return ServerStatus(False, True, f"stopped ({version})")


def start(server: LocalServer, *, fast: bool = False) -> str:
    """Initialise if needed, start, bootstrap roles and the shim. Idempotent; returns a message."""
    made_by = data_major(server.data_dir)
    if made_by is not None and server.major is not None and made_by != server.major:
        raise ConfigError(
            f"{server.data_dir} holds a PostgreSQL {made_by} cluster, and supabase/config.toml "
            f"asks for {server.major}. Set [db] major_version = {made_by} to keep it, or stop it "
            f"(db.stop), remove {server.root} (its data is lost) and run db.start again to make "
            f"a {server.major} one."
        )
    current = status(server)
    if current.running:
        return f"Local database already running on {server.host}:{server.port}."
    _check_port_free(server)
    if not current.initialized:
        _initdb(server, settings=_FAST_SETTINGS if fast else {})
    _pg_ctl(server, ["start", "-w", "-t", "60", "-l", str(server.log_file)])
    _bootstrap(server)
    return (
        f"Local database started on {server.host}:{server.port} "
        f"(PostgreSQL {data_major(server.data_dir)}, data in {server.data_dir})."
    )


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


def create_database(server: LocalServer, name: str) -> str:
    """A database for another app on the local server, owned by `postgres`, with the shim
    (template1 holds it). Starts the server, unless another project's local server already
    answers on the port (then the database is made there); an existing one is kept as it is."""
    from supamigrate.local.shim import install_shim

    if not _DB_NAME.fullmatch(name):
        raise UsageError(
            f"Not a database name: {name!r}. Use lowercase letters, digits and underscores, "
            "starting with a letter (at most 63), e.g. `db.create otherapp`."
        )
    if status(server).running or not port_answers(server):
        start(server)
    with session(server.admin_target("template1"), autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("select 1 from pg_database where datname = %s", (name,))
        made = cur.fetchone() is None
        if made:
            cur.execute(f"create database {name} owner postgres")  # name checked above
    install_shim(server.admin_target(name))  # a database made before template1 had it
    url = server.user_target(name).masked_url
    state = "created" if made else "already exists"
    note = other_major(server) if not status(server).running else None
    said = f"Local database {name} {state}, with the Supabase shim: {url}"
    return said + (f"\n{note}" if note else "")


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
                str(server.bindir() / "initdb"),
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
    # template1 too, so every database made on this server has the shim (`db.create`, or a
    # plain `create database`); a cluster made before this installs it on its next start.
    install_shim(server.admin_target("template1"))
    install_shim(server.admin_target())


def port_answers(server: LocalServer) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1)
        return sock.connect_ex((server.host, server.port)) == 0


def _check_port_free(server: LocalServer) -> None:
    if not port_answers(server):
        return
    other = _other_local(server)
    if other is not None:
        data, major = other
        raise ConfigError(
            f"Port {server.port} on {server.host} is already served by another project's "
            f"local database (PostgreSQL {major}, data in {data}). Stop it there (`db.stop` in "
            f"that project), or keep it and give this app a database of its own on it "
            f"(`db.create NAME`)."
        )
    raise ConfigError(
        f"Port {server.port} on {server.host} is already in use by another server "
        "(is `supabase start` running? Its database serves the same URL, so you do not "
        "need db.start). Stop it or free the port, then retry."
    )


def _other_local(server: LocalServer) -> tuple[str, int] | None:
    """(data folder, major) of a supamigrate local server of another folder answering on the
    port (its bootstrap superuser and the local password let us ask); None for anything else."""
    try:
        with (
            session(server.admin_target(), autocommit=True, connect_timeout=3) as conn,
            conn.cursor() as cur,
        ):
            cur.execute(
                "select current_setting('data_directory'), "
                "current_setting('server_version_num')::int / 10000"
            )
            row = cur.fetchone()
    except Exception:  # not ours, or not a Postgres we can ask: the general message
        return None
    data, major = row if row is not None else ("", 0)
    mine, theirs = server.data_dir.resolve(), Path(data).resolve()
    if theirs == mine or theirs.parts[-2:] != mine.parts[-2:]:  # ours, or not db.start's
        return None
    return str(data), int(major)


def other_major(server: LocalServer) -> str | None:
    """A note when the server answering on the port runs another major than this project's
    config asks for (another project's local server, kept and shared by `db.create`)."""
    if server.major is None:
        return None
    other = _other_local(server)
    if other is None or other[1] == server.major:
        return None
    data, major = other
    return (
        f"Note: this server is another project's (PostgreSQL {major}, data in {data}); "
        f"supabase/config.toml here asks for {server.major}. Test on {server.major} before "
        "you push: stop that server and run `db.start` here."
    )


def _pg_ctl(
    server: LocalServer, args: Sequence[str], *, check: bool = True
) -> subprocess.CompletedProcess[str]:
    cmd = [str(server.bindir() / "pg_ctl"), "-D", str(server.data_dir), *args]
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
