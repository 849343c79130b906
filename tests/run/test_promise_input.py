"""Promises 1 and 3 on the input side, through the real command against the real server: every
flag value is checked before anything changes; every configuration source the user points at
is read or refused, never skipped; one line, never a traceback, at any scale."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from helpers.catalog import snapshot
from helpers.project import Project
from supamigrate.connect.db import session
from supamigrate.connect.dburl import DbTarget
from supamigrate.errors import SupamigrateError
from supamigrate.history.table import CREATE_TABLE, TABLE
from supamigrate.run.config import load_config

LONG = os.environ.get("SUPAMIGRATE_LONG") == "1"
PROPERTY = settings(
    max_examples=200 if LONG else 14,
    derandomize=not LONG,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _state(target: DbTarget) -> list[Any]:
    with session(target) as conn, conn.cursor() as cur:
        return snapshot(cur)


def _tables(target: DbTarget) -> list[str]:
    with session(target) as conn, conn.cursor() as cur:
        cur.execute("select relname from pg_class where relname in ('a', 'b') order by 1")
        return [row[0] for row in cur.fetchall()]


def _one_line(result: subprocess.CompletedProcess[str]) -> None:
    text = result.stdout + result.stderr
    assert "Traceback" not in text, text
    assert len(result.stderr.strip().splitlines()) == 1, text


# --- every flag value: one line and exit 2 with nothing changed, or a valid run -------------

# Each value with whether it is valid. None: the flag is left out.
MIGRATION = {None: True, "": False, " ": False, "\t": False, "001": True, "1 ": True, "nope": False}
MIGRATION["x" * 300] = False
DURATION = {
    None: True,
    "": False,
    "  ": False,
    "5": False,  # no unit: Postgres would read 5 milliseconds
    "5s": True,
    "0": True,
    " 300ms ": True,
    "2 min": True,
    "9999999h": False,
    "abc": False,
    "\u0663s": False,
    "1us": False,
    "-1s": False,
    "5s\n1": False,
    "1.5s": True,  # a fraction: Postgres 12+ takes it (1500 ms)
    "0.4ms": False,  # rounds to 0, which would mean no limit
    "1.5": False,  # no unit
}
METHOD = {
    None: True,
    "": False,
    "psycopg2": True,
    "psql": True,
    "manual": True,
    "PSQL": False,
    " psql": False,
    "nope": False,
}


# Invoke's own flags, given before the task name: `--dry` there only echoes shell commands
# (our tasks run none), so `invoke --dry migrate` would apply for real.
CORE = {None: True, "--dry": False, "-R": False, "--echo": True}


@PROPERTY
@example(migration="", lock=None, statement=None, method=None, dry=False, rehearse=False, core=None)
@example(migration=None, lock=None, statement=None, method=None, dry=True, rehearse=True, core=None)
@example(
    migration="001", lock="", statement=None, method="psql", dry=False, rehearse=False, core=None
)
@example(
    migration=None, lock=None, statement=None, method=None, dry=False, rehearse=False, core="--dry"
)
@given(
    migration=st.sampled_from(list(MIGRATION)),
    lock=st.sampled_from(list(DURATION)),
    statement=st.sampled_from(list(DURATION)),
    method=st.sampled_from(list(METHOD)),
    dry=st.booleans(),
    rehearse=st.booleans(),
    core=st.sampled_from(list(CORE)),
)
def test_every_migrate_flag_is_checked_before_anything_changes(
    tmp_path_factory: Any,
    make_db: Callable[[], DbTarget],
    migration: str | None,
    lock: str | None,
    statement: str | None,
    method: str | None,
    dry: bool,
    rehearse: bool,
    core: str | None,
) -> None:
    """Generated flag values through the real `migrate`: a value that cannot mean anything
    (blank, no unit, out of range, unknown, contradictory) is one line, exit 2, and the
    catalog and history as before; otherwise the run does what the flags say."""
    project = Project.create(tmp_path_factory.mktemp("flags") / "app", make_db())
    project.write("001_a.sql", "create table public.a (id int);\n")
    project.write("002_b.sql", "create table public.b (id int);\n")
    args = [core] * (core is not None) + ["migrate", "--skip-confirm"]
    for flag, value in (
        ("--migration", migration),
        ("--lock-timeout", lock),
        ("--statement-timeout", statement),
        ("--method", method),
    ):
        if value is not None:
            args.append(f"{flag}={value}")
    args += ["--dry"] * dry + ["--rehearse"] * rehearse
    valid = (
        MIGRATION[migration]
        and DURATION[lock]
        and DURATION[statement]
        and METHOD[method]
        and not (dry and rehearse)
        and not (rehearse and method in ("psql", "manual"))
        and CORE[core]
    )
    before = _state(project.target)
    result = project.invoke(*args)
    text = result.stdout + result.stderr
    assert "Traceback" not in text, text
    if not valid:
        assert result.returncode == 2, text
        _one_line(result)
        assert _state(project.target) == before
        return
    assert result.returncode == 0, text
    changes = not (dry or rehearse or method == "manual")
    expected = (["a"] if migration is not None else ["a", "b"]) if changes else []
    assert _tables(project.target) == expected


@pytest.mark.parametrize(
    "args",
    [
        ["status", "--method="],
        ["lint", "--file="],
        ["lint", "--file= "],
        ["rollback-rls", "--table=", "--skip-confirm"],
        ["link", "--project-ref="],
        ["migrate", "--db-url="],
        ["migrate", "--db-url= "],
        ["db.seed", "--users=0"],
        ["db.seed", "--rows-per-user=-1"],
    ],
    ids=lambda args: " ".join(args),
)
def test_blank_values_of_other_tasks_are_refused(project: Project, args: list[str]) -> None:
    """An empty CI input is never "not given" (all tables, the project from the URL, ...)."""
    before = _state(project.target)
    result = project.invoke(*args)
    assert result.returncode == 2, result.stdout + result.stderr
    _one_line(result)
    assert _state(project.target) == before


# --- every configuration source: read or refused, never skipped -----------------------------


def _invoke_bare(project: Project, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The real command with no DATABASE_URL in the environment (only the files say one)."""
    base = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "SUPABASE_DB_URL")}
    base.pop("CI", None)
    return subprocess.run(
        [sys.executable, "-m", "invoke", *args],
        cwd=project.root,
        env={**base, **project.env, **env},
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
    )


def _secrets_kind(kind: str, path: Path, url: str) -> threading.Thread | None:
    """Make `.env.secrets` the `kind` of thing; a FIFO with a writer gets its writer thread."""
    line = f"DATABASE_URL={url}\n"
    if kind == "file-via-symlink":
        real = path.parent / "real.env"
        real.write_text(line)
        path.symlink_to(real)
    elif kind == "dangling-symlink":
        path.symlink_to(path.parent / "vault" / "missing.env")
    elif kind == "symlink-loop":
        path.symlink_to(path)
    elif kind == "directory":
        path.mkdir()
    elif kind == "latin1":
        path.write_bytes(f"DATABASE_URL={url}?application_name=caf\xe9\n".encode("latin-1"))
    elif kind == "blank-value":
        path.write_text("DATABASE_URL=  \n")
    elif kind.startswith("fifo"):
        os.mkfifo(path)
        if kind == "fifo-with-writer":

            def write() -> None:  # as a secret manager does: open, write, close
                with path.open("w") as pipe:
                    time.sleep(0.2)
                    pipe.write(line)

            writer = threading.Thread(target=write, daemon=True)
            writer.start()
            return writer
    return None


READ = {"file-via-symlink", "fifo-with-writer"}
KINDS = sorted(
    READ | {"dangling-symlink", "symlink-loop", "directory", "latin1", "blank-value", "fifo-silent"}
)


@pytest.mark.parametrize("kind", KINDS)
def test_env_secrets_is_read_or_refused_never_skipped(
    kind: str, project: Project, make_db: Callable[[], DbTarget]
) -> None:
    """`.env.secrets` as a pipe (a secret manager's), a link, a directory, other bytes: read,
    or one line and exit 2; the database `.env` names is never reached instead."""
    decoy = make_db()
    (project.root / ".env").write_text(f"DATABASE_URL={decoy.url()}\n")
    project.write("001_a.sql", "create table public.a (id int);\n")
    writer = _secrets_kind(kind, project.root / ".env.secrets", project.target.url())
    started = time.monotonic()
    result = _invoke_bare(project, "migrate", "--skip-confirm", SUPAMIGRATE_PIPE_WAIT="2")
    if writer is not None:
        writer.join(timeout=5)
    assert "Traceback" not in result.stdout + result.stderr
    assert _tables(decoy) == []  # never the database of the next layer
    if kind in READ:
        assert result.returncode == 0, result.stdout + result.stderr
        assert "DATABASE_URL (.env.secrets)" in result.stdout
        assert _tables(project.target) == ["a"]
        return
    assert result.returncode == 2, result.stdout + result.stderr
    _one_line(result)
    assert ".env.secrets" in result.stderr
    assert time.monotonic() - started < 30  # a silent pipe is waited for, not forever


@pytest.mark.parametrize("value", ["", "   ", "\t"], ids=["empty", "spaces", "tab"])
def test_a_blank_database_url_stops_the_run(project: Project, value: str) -> None:
    """DATABASE_URL set but blank (a missing CI secret) is an error, not "use the next one"."""
    (project.root / ".env").write_text(f"DATABASE_URL={project.target.url()}\n")
    result = _invoke_bare(project, "status", DATABASE_URL=value)
    assert result.returncode == 2 and "DATABASE_URL (environment)" in result.stderr
    _one_line(result)


@pytest.mark.parametrize(
    "toml",
    [
        "methods = 5",
        'methods = ["psql", 5]',
        "lock_timeout = true",
        'db_url = ["postgresql://x@h/d"]',
        'migrations_dir = ""',
        'supabase_dir = "  "',
        "connect_timeout = 1.5",
        "connect_timeout = true",
        "lock_timeout = 5",
        "statement_timeout = {}",
        "unknown_key = 1",
    ],
)
def test_pyproject_values_of_the_wrong_type_are_one_line(tmp_path: Path, toml: str) -> None:
    """[tool.supamigrate] with a wrong type, a blank path or an unknown key: one line, exit 2."""
    (tmp_path / "pyproject.toml").write_text(f"[tool.supamigrate]\n{toml}\n")
    with pytest.raises(SupamigrateError) as raised:
        load_config(tmp_path, environ={})
    assert raised.value.exit_code == 2 and "\n" not in str(raised.value)


@pytest.mark.parametrize("toml", ["[tool]\nsupamigrate = 5\n", 'tool = "x"\n'])
def test_a_pyproject_whose_section_is_not_a_table_is_one_line(tmp_path: Path, toml: str) -> None:
    """`tool.supamigrate = 5` is refused, not a crash."""
    (tmp_path / "pyproject.toml").write_text(toml)
    with pytest.raises(SupamigrateError) as raised:
        load_config(tmp_path, environ={})
    assert raised.value.exit_code == 2


# --- one line at any scale, and for any name on disk ------------------------------------------


def test_ten_thousand_versions_missing_locally_are_a_count_and_a_few(project: Project) -> None:
    """10,000 history rows with no file: one readable line, not a paragraph per version."""
    with session(project.target) as conn, conn.cursor() as cur:
        cur.execute(CREATE_TABLE)
        cur.execute(
            f"insert into {TABLE} (version, name, statements) select "
            "(20200101000000 + n)::text, 'gone_' || n, array['select ' || n] "
            "from generate_series(1, 10000) n"
        )
    project.write("001_a.sql", "create table public.a (id int);\n")
    result = project.invoke("migrate", "--skip-confirm", "--include-all")
    assert result.returncode == 1, result.stdout + result.stderr
    _one_line(result)
    assert "10,000" in result.stderr and len(result.stderr) < 3000
    assert _tables(project.target) == []


def test_many_pending_migrations_are_announced_in_a_line_of_readable_length(
    project: Project,
) -> None:
    """Applying 300 migrations: the plan line names a few and a count, not all 300."""
    for n in range(1, 301):
        project.write(f"{n:03d}_m{n}.sql", f"create table public.m{n} (id int);\n")
    result = project.invoke("migrate", "--skip-confirm")
    assert result.returncode == 0, result.stdout + result.stderr
    line = next(x for x in result.stdout.splitlines() if x.startswith("Will apply"))
    assert "and 280 more" in line and len(line) < 600


@pytest.mark.parametrize(
    "make",
    [
        lambda root: (root / "migrations" / f"001_{'a' * 234}.sql").write_text("select 1;\n"),
        lambda root: (
            root / "supabase" / "migrations" / "20250101000001_caf\udce9.sql"
        ).write_bytes(b"select 1;\n"),
        lambda root: (root / "supabase" / "migrations" / "20250101000001_a\nb.sql").write_text(
            "select 1;\n"
        ),
        lambda root: (root / "supabase" / "migrations" / "20250101000001_\x1b[2J.sql").write_text(
            "select 1;\n"
        ),
    ],
    ids=["238-byte-name", "latin1-byte", "newline", "escape-code"],
)
@pytest.mark.parametrize("task", ["status", "migrate"])
def test_any_name_on_disk_is_a_run_or_one_line(project: Project, make: Any, task: str) -> None:
    """Names near the file system's limit or with bytes that are no text: a run or one line,
    never a traceback, and never a raw control code in an error."""
    make(project.root)
    result = project.invoke(*([task, "--skip-confirm"] if task == "migrate" else [task]))
    text = result.stdout + result.stderr
    assert "Traceback" not in text, text
    assert result.returncode in (0, 2), text
    if result.returncode:
        _one_line(result)
        assert "\x1b" not in result.stderr
