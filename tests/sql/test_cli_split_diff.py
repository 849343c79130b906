"""Our `statements` rows equal the real Supabase CLI's on generated files (issue 14).

Hypothesis builds migration files from a grammar of the fragments that decide where a file is
cut (E'' escapes, dollar quotes, nested comments, `/*/`, BEGIN ATOMIC, `atomic` words, quoted
identifiers with `;`, comment-only tails, CRLF, a BOM, non-ASCII whitespace around `;`). The
real binary records them with `supabase migration repair --status applied` (it splits and
writes the rows without executing), many files per call since each call costs about a second.
A subset of valid SQL is applied for real by `invoke migrate` (psycopg2 and psql) and by
`supabase db push`; all three must store the same rows.

The default run is seeded (`derandomize`); SUPAMIGRATE_DIFF_EXAMPLES=5000 compares that many
recorded files with fresh random ones.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from helpers.project import REPO, Project
from supamigrate.connect.db import session
from supamigrate.connect.dburl import DbTarget
from supamigrate.sql.sqlsplit import VERIFIED_CLI_VERSION, statements_text

CLI = REPO / "node_modules" / ".bin" / "supabase"
pytestmark = pytest.mark.skipif(not CLI.exists(), reason="Supabase CLI not installed: run `npm ci`")

BATCH = 100  # files per CLI call (about a second each)
OPT_IN = os.environ.get("SUPAMIGRATE_DIFF_EXAMPLES")
FILES = int(OPT_IN or 600)
_versions = itertools.count(20000000000000)
_SETTINGS = settings(
    deadline=None,
    database=None,
    derandomize=OPT_IN is None,  # the default run is the same every time
    phases=[Phase.explicit, Phase.generate],  # no shrinking: the message names the file
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,  # `db`/`make_db` serve every example
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)

# --- the grammar: anything, for recording ---------------------------------------------------
SPACES = [" ", "\n", "\r\n", "\r", "\t", "\x0b", "\x0c", "\x85", "\xa0", "\u2028", "\u3000"]
SPACES += ["\ufeff", "\x1c", "\u180e", "\u200b", "  \n\t"]
FRAGMENTS = [
    *["select 1", "select 2 as atomic_number", "atomic_x", "atomic_increment()", "atomic"],
    *["ATOMIC", "x.atomic", "begin", "BEGIN", "end", "END", "End", "case", "xend", "endx"],
    *["begin atomic select 1; end", "BeGiN\n\tAtOmIc select 'end'; END"],
    "begin atomic select case when true then 1 end; select 2; end",
    *["begin atomic begin atomic select 1; end; end", "begin atomicx", "begin/**/atomic"],
    "create function f() returns int language sql begin atomic select 1; select 2; end",
    *["E'x\\'y;z'", "e'\\\\'", "E'", "e'a''b;'", "xE'\\'", "1e'\\';'", "'ends in \\'"],
    *["'it''s; ok'", "'", '"a;b"', '"q""; "', '"', "U&'\\'"],
    *["$$ ; $$", "$t$ ; $t$", "$a$ $b$ ; $a$", "$é$;$é$", "a$b$", "$1", "$", "$$", "$x"],
    *["-- c ;\n", "--c\r", "--", "/* ; */", "/* /* ; */ ; */", "/*/ ; */", "/**/", "/*", "*/"],
    *["(", ")", "(select 1; select 2)", ";", ";;", "\\", "\\;", "\\b", "-", "/", "*", "e", "E"],
    *["\\)", "(a\\)", "-- begin\n", "\\begin atomic", "$$$", "$a$a$", "$a$$a$"],
    "do $$ begin perform 1; end $$",
]
NOISE = st.text(alphabet="';\"$\\()-/*eEbginatomcd_x1 \n\r\t\x85\xa0\u2028é", max_size=6)
TAILS = ["", ";", "; -- tail", ";\n-- a\n/* b */\n", ";\r\n", " ;\x85", ";\xa0-- x", "\n"]


@st.composite
def dollar_quotes(draw: st.DrawFn) -> str:
    tag = draw(st.text(alphabet="aZ_1é\xa0", max_size=3))
    body = draw(st.lists(st.sampled_from([*FRAGMENTS, *SPACES]), max_size=4))
    return f"${tag}$" + "".join(body) + draw(st.sampled_from([f"${tag}$", "", "$"]))


@st.composite
def sql_files(draw: st.DrawFn) -> str:
    """A file from the grammar: hard fragments, any whitespace, maybe a BOM and a tail."""
    piece = st.one_of(st.sampled_from(FRAGMENTS), st.sampled_from(SPACES), NOISE, dollar_quotes())
    parts = draw(st.lists(piece, max_size=20))
    bom = draw(st.sampled_from(["", "", "", "\ufeff"]))
    return bom + "".join(parts) + draw(st.sampled_from(TAILS))


# --- the grammar: valid SQL, for executing --------------------------------------------------
EXECUTABLE = [
    "select 1",
    "select E'x\\'y;z' as e",
    "select e'\\\\' as backslash",
    "select 'ends in \\' as standard",
    "select 'it''s; ok' as doubled",
    "select $t$ ; $t$ as tagged",
    "select $$ $x$ ; $$ as nested_tags",
    "select 1 /*/ ; */ as i",
    "select 1 /* /* ; */ ; */ as j",
    "select 1 as atomic_number",
    'select "a;b" from (select 1 as "a;b") as t',
    "select (1) as paren",
    "do $$ begin perform 1; end $$",
    "create or replace function public.atomic_increment(i int) returns int language sql"
    " return i + 1",
    "create or replace function public.f_atomic() returns int language sql\nbegin atomic\n"
    "  select 1;\n  select case when true then 2 end;\nend",
    "-- a comment ; with é\xa0\u2028\nselect 2",
    "/* lead */ select 3",
]
BETWEEN = ["; ", ";\n", ";\r\n", "; -- c\n", ";\n\n", ";\t", "; /* c */ "]
# Blanks the CLI trims off a piece that Postgres reads as part of a word (sqlsplit.as_sent):
# pasted U+00A0, U+2028, U+3000, VT, a BOM, before and after the `;`
BETWEEN += [";\u2028", "; \xa0", ";\n\u3000", ";\x0b", ";\ufeff"]
# and before it (not after BEGIN ATOMIC's `end`: `end\xa0` is no END to the CLI, nor to Postgres)
BLANK_BEFORE = ["\xa0;\n", "\u2028;\n", "\u3000;"]
EXEC_TAILS = ["", ";", "; -- tail", ";\n-- a\n/* b */\n", ";\r\n", "; -- \x85 é", ";\u2028\xa0"]


@st.composite
def executable_files(draw: st.DrawFn) -> str:
    """A valid file: one or more statements, varied separators, maybe a BOM and a tail."""
    statements = draw(st.lists(st.sampled_from(EXECUTABLE), min_size=1, max_size=6))
    body = statements[0]
    for statement in statements[1:]:
        between = BETWEEN if body.endswith("end") else BETWEEN + BLANK_BEFORE
        body += draw(st.sampled_from(between)) + statement
    bom = draw(st.sampled_from(["", "", "\ufeff"]))
    return bom + body + draw(st.sampled_from(EXEC_TAILS))


# --- the real CLI and the real server -------------------------------------------------------
def run_cli(workdir: Path, target: DbTarget, *args: str) -> None:
    """The CLI against `target` by URL, the password only in PGPASSWORD (never in argv)."""
    env = {**os.environ, "PGPASSWORD": target.password or ""}
    remote = f"--remote={target.url(with_password=False)}"
    result = subprocess.run(
        [str(CLI), *args, remote, "--workdir", str(workdir), "--yes"],
        env=env,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def history(target: DbTarget, versions: list[str] | None = None) -> dict[str, list[str]]:
    with session(target) as conn, conn.cursor() as cur:
        cur.execute(
            "select version, statements from supabase_migrations.schema_migrations"
            " where %(all)s or version = any(%(versions)s)",
            {"all": versions is None, "versions": versions or []},
        )
        return {version: statements for version, statements in cur.fetchall()}


def recorded_by_cli(target: DbTarget, files: list[str]) -> list[list[str]]:
    """The rows the CLI writes for `files`, in one `migration repair` call."""
    versions = [str(next(_versions)) for _ in files]
    with tempfile.TemporaryDirectory(prefix="cli-split-") as tmp:
        migrations = Path(tmp) / "supabase" / "migrations"
        migrations.mkdir(parents=True)
        for version, sql in zip(versions, files, strict=True):
            (migrations / f"{version}_generated.sql").write_bytes(sql.encode())
        run_cli(Path(tmp), target, "migration", "repair", "--status", "applied", *versions)
    rows = history(target, versions)
    return [rows[version] for version in versions]


def assert_same_rows(files: list[str], theirs: list[list[str]]) -> None:
    for sql, row in zip(files, theirs, strict=True):
        assert statements_text(sql) == row, (
            f"file {sql!r}: CLI {VERIFIED_CLI_VERSION} stored {row!r}"
        )


def test_the_binary_is_the_verified_version() -> None:
    """The differential tests run the CLI version that sqlsplit claims to follow."""
    version = subprocess.run(
        [str(CLI), "--version"], capture_output=True, text=True, check=True, timeout=60
    )
    assert version.stdout.strip() == VERIFIED_CLI_VERSION


def test_statements_equal_the_clis_on_generated_files(db: DbTarget) -> None:
    """For every generated file, statements_text is the array the real CLI records."""
    compared: list[str] = []

    @settings(_SETTINGS, max_examples=max(1, FILES // BATCH))
    @given(files=st.lists(sql_files(), min_size=BATCH, max_size=BATCH))
    def batch(files: list[str]) -> None:
        assert_same_rows(files, recorded_by_cli(db, files))
        compared.extend(files)

    batch()
    assert len(compared) >= FILES  # every batch ran: 600 files by default


@settings(_SETTINGS, max_examples=3 if OPT_IN is None else 10)
@given(files=st.lists(executable_files(), min_size=10, max_size=10))
def test_executing_methods_store_the_clis_rows(
    make_db: Callable[[], DbTarget], files: list[str]
) -> None:
    """psycopg2, psql and `supabase db push` apply the same files and store identical rows."""
    with tempfile.TemporaryDirectory(prefix="cli-exec-") as tmp:
        project = Project.create(Path(tmp) / "app", make_db())
        for number, sql in enumerate(files, start=1):
            project.write(f"{number:03d}_generated.sql", sql.encode())
        stored = {}
        for method in ("psycopg2", "psql"):
            target = make_db()
            result = project.invoke(
                "migrate", "--skip-confirm", "--method", method, url=target.url()
            )
            assert result.returncode == 0, result.stdout + result.stderr
            stored[method] = history(target)
        pushed = make_db()
        run_cli(project.root, pushed, "db", "push")
        theirs = history(pushed)
    assert len(theirs) == len(files)
    assert stored["psycopg2"] == theirs
    assert stored["psql"] == theirs
    assert_same_rows(files, [theirs[version] for version in sorted(theirs)])
