"""Promise 2 against a file that forges the runner's markers: a file can read this run's
nonce (current_query() shows the whole message) and raise the marker of a later migration,
or the end's, then fail or not. Whatever it forges, the report (lines, --json, exit code)
says what the history and the schema say, through the real command on the real server."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers.project import Project
from supamigrate.connect.db import session
from supamigrate.connect.dburl import DbTarget
from supamigrate.history.table import TABLE

LONG = os.environ.get("SUPAMIGRATE_LONG") == "1"
_NONCE = "substring(current_query() from 'supamigrate: start [0-9]+ ([0-9a-f]{32}) at')"


def _forgery(claims: list[str], fails: bool) -> str:
    """Raise the marker of each claimed version ("end" for the message's end), then fail or not."""
    raises = "".join(
        f"  raise notice 'supamigrate: start {claim} % at %', n, "
        "extract(epoch from clock_timestamp());\n"
        for claim in claims
    )
    body = f"do $$declare n text := {_NONCE};\nbegin\n{raises}end$$;\n"
    return body + ("select 1/0;\n" if fails else "select 1;\n")


@st.composite
def _runs(draw: st.DrawFn) -> tuple[int, int, list[int | str], bool, bool]:
    count = draw(st.integers(3, 7))
    forger = draw(st.integers(2, count))  # 1 runs alone: it makes the history table
    later = st.one_of(st.integers(forger + 1, count + 2), st.just("end"))
    claims = draw(st.lists(later, min_size=1, max_size=3))
    return count, forger, claims, draw(st.booleans()), draw(st.booleans())


def _rows(target: DbTarget) -> tuple[list[str], list[str]]:
    with session(target, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(f"select version from {TABLE} order by 1")
        versions = [row[0] for row in cur.fetchall()]
        cur.execute("select relname from pg_class where relname ~ '^f[0-9]+$' order by 1")
        return versions, [row[0] for row in cur.fetchall()]


_LINE = re.compile(r"\[(\d+)/\d+\] \d+_m\d+ \.\.\. (ok|failed)")


def _reported(stdout: str, as_json: bool, version: dict[int, str]) -> dict[str, str]:
    """Each migration's outcome as the report says it last (a correction comes after)."""
    if as_json:
        return {r["version"]: r["result"] for r in json.loads(stdout)["results"]}
    said: dict[str, str] = {}
    for line in stdout.splitlines():
        if found := _LINE.match(line):
            said[version[int(found[1])]] = found[2]
        elif line.startswith("Correction: "):  # what it names was not so: taken back
            for number in re.findall(r"\b\d+_m(\d+)\b", line.split(" reported ok")[0]):
                said.pop(version[int(number)], None)
    return said


@settings(
    max_examples=60 if LONG else 8,
    derandomize=not LONG,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(run=_runs())
def test_a_forged_marker_never_reports_what_did_not_commit(
    run: tuple[int, int, list[int | str], bool, bool],
    tmp_path_factory: Any,
    make_db: Callable[[], DbTarget],
) -> None:
    count, forger, claims, fails, as_json = run
    project = Project.create(tmp_path_factory.mktemp("forge") / "app", make_db())
    version = {n: f"2025120100000{n}" for n in range(1, count + 3)}  # SOURCE_DATE_EPOCH's
    for n in range(1, count + 1):
        made = f"create table public.f{n} (id int);\n"
        forged = [version[c] if isinstance(c, int) else c for c in claims]
        project.write(f"{n:03d}_m{n}.sql", made + (_forgery(forged, fails) if n == forger else ""))
    result = project.invoke("migrate", "--skip-confirm", *(["--json"] if as_json else []))
    recorded, tables = _rows(project.target)
    reported = _reported(result.stdout, as_json, version)
    assert sorted(v for v, said in reported.items() if said == "ok") == recorded
    assert tables == [f"f{n}" for n in range(1, count + 1) if version[n] in recorded]
    applied = forger - 1 if fails else count
    assert recorded == [version[n] for n in range(1, applied + 1)]
    assert result.returncode == (1 if fails else 0), result.stderr
    if not fails:  # an early or doubled marker of what did commit needs no correction
        assert "Correction" not in result.stdout
    else:
        assert reported[version[forger]] == "failed"
        assert len(reported) == forger  # nothing after it ran, nor is said to have


def test_a_correction_is_said_in_the_lines_too(project: Project) -> None:
    """Without --json: the forger's ok line, if one was printed, is corrected below it, and
    the summary counts what the history holds."""
    project.write("001_a.sql", "create table public.f1 (id int);\n")
    project.write("002_b.sql", "create table public.f2 (id int);\n")
    project.write("003_c.sql", _forgery(["20251201000004"], fails=True))
    project.write("004_d.sql", "create table public.f4 (id int);\n")
    result = project.invoke("migrate", "--skip-confirm")
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert any(re.match(r"\[3/4\] 003_c .*failed", line) for line in lines), result.stdout
    assert not any(line.startswith("[4/4]") for line in lines), result.stdout
    if any(re.match(r"\[3/4\] 003_c .* ok", line) for line in lines):
        assert any(line.startswith("Correction: 003_c") for line in lines), result.stdout
    assert "2 ok, 1 failed, 1 not run" in result.stdout
    assert _rows(project.target)[0] == ["20251201000001", "20251201000002"]
