"""lint's faster paths answer exactly as the plain ones: `supamigrate lint` without Invoke
(direct.py) as through Invoke (stdout, stderr, exit code); the report's one write as a `say`
per line; the JSON findings as dataclasses.asdict made them."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from supamigrate import output
from supamigrate.connect.masking import register_secret
from supamigrate.direct import plain_lint
from supamigrate.lint import lint_files, to_json
from supamigrate.lint.nodes import walk
from supamigrate.lint.security import _calls_outside_sublinks, called_name
from supamigrate.output import Reporter
from supamigrate.sql.reading import NO_TRANSACTION_KINDS, needs_no_transaction, read_sql

DIRECT = "from supamigrate.cli import main; main()"
THROUGH_INVOKE = (
    "from supamigrate import cli, output; output.PROGRAM = 'supamigrate'; cli.program().run()"
)


def _run(code: str, cwd: Path, args: list[str]) -> tuple[str, str, int]:
    env = {k: v for k, v in os.environ.items() if k not in {"CI", "GITHUB_ACTIONS"}}
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.stdout, done.stderr, done.returncode


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    migrations = tmp_path / "app" / "supabase" / "migrations"
    migrations.mkdir(parents=True)
    (tmp_path / "app" / "pyproject.toml").write_text("[tool.supamigrate]\n")
    (migrations / "20260101000000_a.sql").write_text(
        "create table public.t (id int primary key);\ncreate index i on public.t (id);\n"
    )
    (migrations / "20260102000000_b.sql").write_text("alter table public.t add column c int;\n")
    (tmp_path / "app" / "bad.sql").write_bytes(b"select 1;\xff\n")
    (tmp_path / "app" / "ok.sql").write_text("select 1;\n")
    return tmp_path / "app"


@pytest.mark.parametrize(
    "args",
    [
        ["lint", "--all"],
        ["lint", "--all", "--json"],
        ["lint", "ok.sql", "supabase/migrations/20260101000000_a.sql"],
        ["lint", "--json", "ok.sql"],
        ["lint", "missing.sql"],
        ["lint", "--json", "bad.sql"],
        ["lint", "bad.sql"],
    ],
)
def test_direct_lint_answers_as_invoke_does(repo: Path, args: list[str]) -> None:
    assert plain_lint(args) is not None  # these take the direct path
    assert _run(DIRECT, repo, args) == _run(THROUGH_INVOKE, repo, args)


def test_outside_a_project_the_same_one_line_error(tmp_path: Path) -> None:
    direct = _run(DIRECT, tmp_path, ["lint", "--all"])
    assert direct == _run(THROUGH_INVOKE, tmp_path, ["lint", "--all"])
    assert direct[2] == 2 and "No Supabase project found" in direct[1]


@pytest.mark.parametrize(
    "args",
    [
        ["lint", "-a"],
        ["lint", "--help"],
        ["lint", "--al"],
        ["lint", "--target", "x"],
        ["lint", "--file", "a.sql"],
        ["lint", "notes.txt"],
        ["lint", "-x.sql"],
        ["--echo", "lint"],
        ["migrate"],
        [],
    ],
)
def test_anything_else_goes_through_invokes_parser(args: list[str]) -> None:
    assert plain_lint(args) is None


def test_the_direct_path_does_not_import_invoke(repo: Path) -> None:
    """The point of the direct path: Invoke's import is a tenth of `lint --all`'s time."""
    env = {k: v for k, v in os.environ.items() if k not in {"CI", "GITHUB_ACTIONS"}}
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", DIRECT, "lint", "--all"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    imported = [line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()]
    assert "supamigrate.lint.engine" in imported  # (the import log is there)
    assert not [name for name in imported if name.split(".")[0] == "invoke"]
    assert done.returncode == 1  # errors found, through the fast exit


def test_json_findings_are_asdicts_of_the_findings() -> None:
    sql = (
        "create index i on t (a);\n"
        "-- supamigrate:allow require-concurrent-index-creation small table\n"
        "create index j on t (b);\nalter table t add column c int not null default random();\n"
    )
    findings = lint_files([("1.sql", sql)])
    assert any(f.suppressed for f in findings) and any(not f.suppressed for f in findings)
    expected = [{**asdict(f), "level": f.level.value} for f in findings]
    assert to_json(findings) == expected
    assert [list(d) for d in to_json(findings)] == [list(d) for d in expected]


@pytest.mark.parametrize("program", ["invoke", "supamigrate"])
def test_one_write_says_what_a_say_per_line_says(
    program: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(output, "PROGRAM", program)
    register_secret("s3cret-pw")
    lines = [
        "plain line",
        "run `invoke migrate` first",
        "postgresql://me:hunter2@db.example.com/x and password=abc",
        "a secret s3cret-pw here",
        "escape \x1b[31m red \u202e and \r",
        "",
    ]
    each, once = io.StringIO(), io.StringIO()
    for line in lines:
        Reporter(stream=each).say(line)
    Reporter(stream=once).say_each(lines)
    assert once.getvalue() == each.getvalue()
    quiet = io.StringIO()
    Reporter(stream=quiet).say_each(["plain", "lines"])
    assert quiet.getvalue() == "plain\nlines\n"


def test_pglast_node_classes_load_only_when_used() -> None:
    """sql.lazy_pglast: reading SQL as JSON builds none of pglast's node classes or enums;
    code that uses them (pglast.parse_sql) still gets them, loaded on first use."""
    code = (
        "import sys\n"
        "from supamigrate.sql.reading import read_sql\n"
        "assert read_sql('select 1;').statements[0].kind == 'SelectStmt'\n"
        "print('pglast.enums.nodes' in sys.modules, type(sys.modules['pglast.ast']).__name__)\n"
        "import pglast\n"
        "from pglast.enums import LockClauseStrength\n"
        "node = pglast.parse_sql('select 1 for update')[0].stmt\n"
        "print(type(node).__name__, node.lockingClause[0].strength is LockClauseStrength.LCS_FORUPDATE)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.split("\n")[:2] == ["False _LazyModule", "SelectStmt True"]


def test_a_freed_large_block_is_reused_without_page_faults() -> None:
    """process.heap: after reuse_freed_blocks, a large block freed and taken again costs no
    fresh pages (glibc; elsewhere the call does nothing and the test says so)."""
    code = (
        "import resource, sys\n"
        "from supamigrate.process.heap import reuse_freed_blocks\n"
        "if sys.argv[1] == 'tuned':\n"
        "    reuse_freed_blocks()\n"
        "faults = []\n"
        "for _ in range(4):\n"
        "    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
        "    block = bytearray(16 * 1024 * 1024)\n"
        "    del block\n"
        "    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)\n"
        "print(sum(faults[1:]))\n"
    )
    faults = {}
    for mode in ("plain", "tuned"):
        done = subprocess.run(
            [sys.executable, "-c", code, mode], capture_output=True, text=True, check=True
        )
        faults[mode] = int(done.stdout)
    if faults["plain"] < 1000:
        pytest.skip(f"this C library reuses large blocks already ({faults})")
    assert faults["tuned"] < faults["plain"] / 10, faults


PART = st.sampled_from(
    [
        "auth.uid()",
        "(select auth.uid())",
        "auth.jwt() ->> 'role'",
        "(select auth.jwt() ->> 'role')",
        "current_setting('app.tenant', true)",
        "now()",
        "coalesce(auth.role(), 'anon')",
        "exists (select 1 from t where t.owner = auth.uid())",
        "user_id",
        "array[auth.email()]",
        "case when auth.uid() is null then false else true end",
        "lower(name)",
        "(select 1) = any (array[(select auth.uid())])",
    ]
)
EXPRESSION = st.recursive(
    PART,
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from([" = ", " <> ", " and ", " or "]), inner).map("".join),
        inner.map(lambda e: f"({e})"),
        inner.map(lambda e: f"coalesce({e}, null)"),
        inner.map(lambda e: f"(select {e})"),
    ),
    max_leaves=6,
)


@settings(derandomize=True, max_examples=200, deadline=None)
@given(EXPRESSION)
def test_calls_outside_sublinks_are_what_the_walk_finds(expression: str) -> None:
    """security._calls_outside_sublinks (auth_rls_initplan's fast walk) finds exactly the
    FuncCall nodes walk(..., into_sublinks=False) finds, on policy expressions."""
    sql = f"create policy p on t for select using ({expression}) with check ({expression})"
    reading = read_sql(sql)
    assume(reading.error is None)  # `a = b = c` does not parse: nothing to compare
    node = reading.statements[0].node
    expressions = [node[field] for field in ("qual", "with_check") if field in node]
    walked = {
        called_name(call)
        for kind, call in walk(expressions, into_sublinks=False)
        if kind == "FuncCall"
    }
    assert _calls_outside_sublinks(expressions) == walked


OUTSIDE_A_TRANSACTION = [
    "create index concurrently i on t (a)",
    "drop index concurrently i",
    "reindex (concurrently) index i",
    "reindex index concurrently i",
    "reindex schema public",
    "reindex database postgres",
    "reindex system postgres",
    "vacuum t",
    "cluster",
    "alter table t detach partition p concurrently",
    "discard all",
    "alter database d set tablespace s",
    "alter system set work_mem = '4MB'",
    "create database d",
    "drop database d",
    "create tablespace s location '/tmp/s'",
    "drop tablespace s",
    "create index i on t (a)",
    "vacuum full t",
    "select 1",
]


@pytest.mark.parametrize("sql", OUTSIDE_A_TRANSACTION)
def test_only_the_listed_kinds_can_need_no_transaction(sql: str) -> None:
    """check_file_rules skips kinds outside NO_TRANSACTION_KINDS: none of those is refused."""
    (statement,) = read_sql(sql + ";").statements
    if list(needs_no_transaction(statement)):
        assert statement.kind in NO_TRANSACTION_KINDS


@pytest.mark.parametrize("where", ["first", "parent's half", "worker's half", "last"])
def test_a_file_that_is_not_utf8_is_refused_wherever_it_is_read(tmp_path: Path, where: str) -> None:
    """supabase/migrations' files are read by the process that lints them (on two cores, after
    the fork): a file that is not UTF-8 gets the same one-line refusal, exit code and empty
    stdout wherever it sits, as when it was read at listing."""
    migrations = tmp_path / "supabase" / "migrations"
    migrations.mkdir(parents=True)
    (tmp_path / "pyproject.toml").write_text("[tool.supamigrate]\n")
    padding = "".join(f"comment on table public.t is 'note {n}';\n" for n in range(500))
    count = 60  # about 1.5 MB: linted on two cores
    for n in range(count):
        sql = f"create table if not exists public.t{n} (id int primary key);\n{padding}"
        (migrations / f"2026010100{n:04d}_m{n}.sql").write_text(sql)
    bad = {"first": 0, "parent's half": 10, "worker's half": 50, "last": count - 1}[where]
    name = f"2026010100{bad:04d}_m{bad}.sql"
    (migrations / name).write_bytes(b"select 1;\n\xff\n")
    stdout, stderr, code = _run(DIRECT, tmp_path, ["lint", "--all"])
    assert code == 2 and stdout == ""  # a usage error
    assert stderr.strip().splitlines() == [
        f"FAILED: {migrations / name} is not valid UTF-8 (byte 10): re-save it as UTF-8 and retry."
    ]
    assert _run(THROUGH_INVOKE, tmp_path, ["lint", "--all"]) == (stdout, stderr, code)


SPELLED = st.sampled_from(
    [
        '"auth"."uid"()',
        "AUTH.UID()",
        "auth . jwt() ->> 'x'",
        '"auth".role()',
        "'auth.uid()' = name",
        "name = 'x' /* (select auth.uid()) */",
        "( select auth.uid())",
        "(SELECT auth.uid())",
        "(select  auth.email())",
        "(select current_setting('a'))",
        "pg_catalog.current_setting('a') = 'b'",
        # an adversarial review's: a comment or a Unicode escape between the words
        "auth/**/.uid() = b",
        '"auth"-- x\n.uid() = b',
        'U&"au\\0074h".uid() = b',
        "U&\"current\\005fsetting\"('x') = 'b'",
        '"AUTH"."UID"() = b',
        '"Auth".uid() = b',
    ]
)
POLICY_EXPRESSION = st.recursive(
    st.one_of(PART, SPELLED),
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from([" = ", " and ", " or "]), inner).map("".join),
        inner.map(lambda e: f"({e})"),
        inner.map(lambda e: f"(select {e})"),
    ),
    max_leaves=5,
)


@settings(derandomize=True, max_examples=300, deadline=None)
@given(POLICY_EXPRESSION)
def test_the_policy_text_prefilter_never_hides_a_per_row_call(expression: str) -> None:
    """Property: auth_rls_initplan is reported exactly when the tree has a per-row call
    outside a sub-select, whatever the spelling (quoted, upper case, spaced), strings and
    comments: the text prefilter that skips the walk only ever skips where it finds none."""
    from supamigrate.lint.security import PER_ROW_CALLS

    sql = f"create policy p on public.t for select using ({expression})"
    reading = read_sql(sql)
    assume(reading.error is None)
    node = reading.statements[0].node
    called = _calls_outside_sublinks([node["qual"]])
    rules = {finding.rule for finding in lint_files([("1.sql", sql)])}
    assert ("auth_rls_initplan" in rules) == bool(called & PER_ROW_CALLS)


@pytest.mark.parametrize(
    ("expression", "per_row"),
    [
        ('"auth"."uid"() = user_id', True),
        ("auth . uid() = user_id", True),
        ('"AUTH".uid() = user_id', False),  # another schema than auth
        ('"auth"."UID"() = user_id', False),  # another function
        ("(select auth.uid()) = a or auth/**/.uid() = b", True),
        ('(select auth.uid()) = a or U&"au\\0074h".uid() = b', True),
        ("(select auth.uid()) = user_id", False),
    ],
)
def test_per_row_calls_are_named_as_postgres_resolves_them(expression: str, per_row: bool) -> None:
    sql = f"create policy p on public.t for select using ({expression})"
    rules = {finding.rule for finding in lint_files([("1.sql", sql)])}
    assert ("auth_rls_initplan" in rules) is per_row


@pytest.mark.parametrize("closed", [">&-", ">&- 2>&-"])
@pytest.mark.parametrize(("target", "code"), [("ok.sql", 0), ("--all", 1)])
def test_a_closed_stdout_changes_no_exit_code(
    repo: Path, closed: str, target: str, code: int
) -> None:
    """Started with stdout (and stderr) closed, as `supamigrate lint ... >&-` in a hook: the
    same exit code as with them open, and no traceback (an adversarial review's: the fast
    exit flushed a stream that was None)."""
    env = {k: v for k, v in os.environ.items() if k not in {"CI", "GITHUB_ACTIONS"}}
    script = f'"$0" -c "$1" lint {target} {closed}'
    done = subprocess.run(
        ["sh", "-c", script, sys.executable, DIRECT],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == code
    assert "Traceback" not in done.stderr
