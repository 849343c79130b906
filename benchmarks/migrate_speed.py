"""How fast migrations apply: supamigrate (each method) next to psql and the Supabase CLI.

Generates N realistic migrations (tables, indexes, plpgsql functions, triggers, DO blocks,
RLS policies, a few hundred rows each) and applies them to fresh databases with:
- floor: one `psql` session running every file in its own transaction with its history row
  (a hand-written script: the least any tool must do); its no-op reads the history once;
- supamigrate via psycopg2, via psql, and via the Supabase CLI path (`invoke migrate`);
- the Supabase CLI alone (`supabase db push --remote=<url>`);
- dbmate from its npm package, when installed (DBMATE, PATH or node_modules/.bin).
Each is timed cold (all pending) and no-op (nothing pending), N = 20 and 200, interleaved,
REPEATS times (BENCH_REPEATS); ratios to the floor are taken pair by pair (same round) and
the median shown. Then again through benchmarks/delay_proxy.py (10 ms each way), as a
far-away project is, at N=20 and N=200 (there against the limit: process start, connect,
the server's own time and one round trip), and at N=200 50 ms each way (a CI runner on another
continent), counting the round trips each cold run pays; then N=10,000 locally (cold, no-op,
peak memory), and `migrate --dry` on one 50 MB file (benchmarks/big_file.py).

Writes benchmarks/results/migrate_speed.md and benchmarks/migrate_speed.png.
Run: `nox -s bench` (or `python benchmarks/migrate_speed.py [--quick] [--parts=a,b]`).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from delay_proxy import DelayProxy  # noqa: E402
from throwaway import throwaway_server  # noqa: E402

from supamigrate.connect.db import session  # noqa: E402
from supamigrate.connect.dburl import DbTarget  # noqa: E402
from supamigrate.history.table import CREATE_TABLE, TABLE, record_sql  # noqa: E402
from supamigrate.local import server as localdb  # noqa: E402
from supamigrate.local.shim import install_shim  # noqa: E402
from supamigrate.project.files import version_for  # noqa: E402
from supamigrate.sql.sqlsplit import statements_text  # noqa: E402

CLI = ROOT / "node_modules" / ".bin" / "supabase"
# dbmate from its npm package (`npm install dbmate`), wherever it was installed.
DBMATE = (
    os.environ.get("DBMATE") or shutil.which("dbmate") or str(ROOT / "node_modules/.bin/dbmate")
)
BASE = "20250101000000"
TEMPLATE = "bench_template"
TOOLS: tuple[str, ...] = (
    "floor",
    "supamigrate/psycopg2",
    "supamigrate/psql",
    "supamigrate/supabase",
    "supabase",
) + (("dbmate",) if Path(DBMATE).exists() else ())


def migration_sql(i: int) -> str:
    """One realistic migration; every fourth also alters an earlier table."""
    t = f"public.bench_{i}"
    sql = f"""-- {i:03d}: a feature table with its trigger, index, policy and seed rows
create table if not exists {t} (
  id bigint generated always as identity primary key,
  tenant_id uuid not null default gen_random_uuid(),
  name text not null,
  amount numeric(12, 2) not null default 0,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index if not exists bench_{i}_tenant_idx on {t} (tenant_id, created_at desc);
create or replace function public.bench_{i}_touch() returns trigger
language plpgsql as $$
begin
  new.updated_at := now();
  return new;
end;
$$;
drop trigger if exists bench_{i}_touch on {t};
create trigger bench_{i}_touch before update on {t}
  for each row execute function public.bench_{i}_touch();
insert into {t} (name, amount)
select 'item ' || g, g * 1.5 from generate_series(1, 300) as g;
do $$
begin
  if not exists (select 1 from pg_roles where rolname = 'authenticated') then
    raise exception 'the authenticated role is missing';
  end if;
end
$$;
alter table {t} enable row level security;
create policy "bench_{i}: members read" on {t} for select to authenticated
  using (tenant_id = any (array(select gen_random_uuid())));
comment on table {t} is 'benchmark table {i}';
"""
    if i % 4 == 0 and i > 1:
        sql += f"alter table public.bench_{i - 1} add column if not exists note text;\n"
    return sql


class Workspace:
    """A project folder with N migrations, in both layouts, plus the floor's script."""

    def __init__(self, root: Path, n: int) -> None:
        self.root = root
        self.n = n
        (root / "migrations").mkdir(parents=True)
        (root / "supabase" / "migrations").mkdir(parents=True)
        (root / "db" / "migrations").mkdir(parents=True)
        (root / "supabase" / ".temp").mkdir()
        (root / "supabase" / ".temp" / "project-ref").write_text("abcdefghijklmnopqrst")
        shutil.copy(ROOT / "tasks.py", root / "tasks.py")
        (root / "pyproject.toml").write_text(f'[tool.supamigrate]\nversion_base = "{BASE}"\n')
        floor = ["\\set ON_ERROR_STOP on\n\\set QUIET on\n", f"BEGIN;\n{CREATE_TABLE}COMMIT;\n"]
        for i in range(1, n + 1):
            sql = migration_sql(i)
            (root / "migrations" / f"{i:03d}_feature_{i}.sql").write_text(sql)
            version = version_for(i, BASE)
            mirror = root / "supabase" / "migrations" / f"{version}_feature_{i}.sql"
            mirror.write_text(sql)
            (root / "db" / "migrations" / mirror.name).write_text(
                f"-- migrate:up\n{sql}\n-- migrate:down\n"
            )
            record = record_sql(version, f"feature_{i}", statements_text(sql), replace=False)
            floor.append(f"BEGIN;\n\\i {mirror}\n{record}\nCOMMIT;\n")
        (root / "floor.sql").write_text("".join(floor))


def env_for(target: DbTarget) -> dict[str, str]:
    # As in a user's shell: no PG* leftovers, and bytecode caching on (nox and some CI
    # images set PYTHONDONTWRITEBYTECODE, which would make every run recompile).
    skip = ("PG", "DATABASE_URL", "CI", "PYTHONDONTWRITEBYTECODE")
    env = {k: v for k, v in os.environ.items() if not k.startswith(skip)}
    env.update(target.libpq_env())
    env["DATABASE_URL"] = target.url()
    env["SUPABASE_CLI"] = str(CLI)
    return env


def command(tool: str, ws: Workspace, target: DbTarget, *, noop: bool) -> list[str]:
    if tool == "floor" and noop:  # the least a no-op can do: read the history once
        return ["psql", "-X", "-q", "-c", f"select version from {TABLE}"]
    if tool == "floor":
        return ["psql", "-X", "-q", "-f", str(ws.root / "floor.sql")]
    if tool == "dbmate":  # its own history table; one transaction and round trip per file
        migrations = str(ws.root / "db" / "migrations")
        url = f"{target.url()}?sslmode=disable"
        return [DBMATE, "--url", url, "--migrations-dir", migrations, "--no-dump-schema", "up"]
    if tool == "supabase":
        remote = f"--remote={target.url(with_password=False)}"
        return [str(CLI), "db", "push", remote, "--yes", "--workdir", str(ws.root)]
    method = tool.split("/")[1]
    return [sys.executable, "-m", "invoke", "migrate", "--skip-confirm", "--method", method]


PEAK_KIB: dict[str, float] = {}  # the last run's peak resident memory, per tool and kind
# The proxy the runs go through now (measure sets it), and the round trips and connections the
# last run paid through it, per tool and kind: what each far-away run costs, counted.
PROXY: list[DelayProxy] = []
ROUND_TRIPS: dict[str, tuple[int, int]] = {}


def run(tool: str, ws: Workspace, target: DbTarget, *, noop: bool) -> float:
    for proxy in PROXY:
        proxy.round_trips = proxy.connections = 0
    started = time.perf_counter()
    child = subprocess.Popen(
        command(tool, ws, target, noop=noop),
        cwd=ws.root,
        env=env_for(target),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = child.stdout.read() if child.stdout else ""
    _, status, usage = os.wait4(child.pid, 0)  # this child's own peak memory
    child.returncode = os.waitstatus_to_exitcode(status)
    elapsed = (time.perf_counter() - started) * 1000
    PEAK_KIB[f"{tool} {'noop' if noop else 'cold'}"] = usage.ru_maxrss
    for proxy in PROXY:
        ROUND_TRIPS[f"{tool} {'noop' if noop else 'cold'}"] = (proxy.round_trips, proxy.connections)
    if child.returncode != 0:
        raise SystemExit(f"{tool} failed:\n{output}")
    return elapsed


def own_peak(tool: str, ws: Workspace, target: DbTarget) -> float | None:
    """A no-op's own peak memory (KiB), from one more run, untimed, under GNU time. wait4's
    ru_maxrss keeps the high-water mark a child had before its exec: a copy of this process,
    ~90 MB once the 10,000-migration workspace is made, more than a no-op run itself uses
    (psql's no-op showed the same 90 MB). None without /usr/bin/time."""
    if not Path("/usr/bin/time").exists():
        return None
    with tempfile.NamedTemporaryFile("r") as report:
        timed = [
            "/usr/bin/time",
            "-f",
            "%M",
            "-o",
            report.name,
            *command(tool, ws, target, noop=True),
        ]
        subprocess.run(timed, cwd=ws.root, env=env_for(target), capture_output=True, check=True)
        return float(report.read().split()[-1])


def noop_floor(target: DbTarget) -> float:
    """The no-op target's reference: start Python, import invoke, open one connection."""
    code = (
        "import invoke, psycopg2, os; "
        "psycopg2.connect(host=os.environ['PGHOST'], port=os.environ['PGPORT'], "
        "user=os.environ['PGUSER'], dbname=os.environ['PGDATABASE'], "
        "password=os.environ['PGPASSWORD']).close()"
    )
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=env_for(target), check=True)
    return (time.perf_counter() - started) * 1000


class Bench:
    def __init__(self, server: localdb.LocalServer, workdir: Path) -> None:
        self.server = server
        self.workdir = workdir
        self.admin = server.admin_target()
        self.counter = 0
        with session(self.admin, autocommit=True) as conn, conn.cursor() as cur:
            cur.execute(f"create database {TEMPLATE} owner postgres")
            # Autovacuum would analyze one run's 200 new tables during the next run, at
            # random: off, so rounds compare the tools and not its timing.
            cur.execute("alter system set autovacuum = off")
            cur.execute("select pg_reload_conf()")
        install_shim(self.admin.with_database(TEMPLATE))

    def fresh(self, port: int) -> DbTarget:
        self.counter += 1
        name = f"bench_{self.counter}"
        with session(self.admin, autocommit=True) as conn, conn.cursor() as cur:
            cur.execute(f"create database {name} template {TEMPLATE} owner postgres")
        target = self.server.user_target().with_database(name)
        return DbTarget(target.host, port, target.user, name, target.password)

    def drop(self, target: DbTarget) -> None:
        with session(self.admin, autocommit=True) as conn, conn.cursor() as cur:
            cur.execute(f"drop database {target.database} with (force)")

    def limit(self, ws: Workspace, far_port: int) -> dict[str, dict[str, float]]:
        """The far-away limit, in this round: the floor's cold run on the direct port (the
        server's own time and process start), plus what the proxy adds to connecting and one
        query (the floor's no-op through it, less the same no-op direct). The floor's own
        cold run through the proxy would pay a round trip per statement (minutes)."""
        target = self.fresh(self.server.port)
        cold = run("floor", ws, target, noop=False)
        near = run("floor", ws, target, noop=True)
        away = DbTarget(target.host, far_port, target.user, target.database, target.password)
        far = run("floor", ws, away, noop=True)
        self.drop(target)
        return {"floor": {"noop": far}, "limit": {"cold": cold + far - near}}

    def round(
        self, ws: Workspace, port: int, tools: tuple[str, ...] = TOOLS, noops: int = 1
    ) -> dict[str, dict[str, float]]:
        """Every tool once, cold then no-op, each on a fresh database ("limit": see there).
        `noops`: the no-op's median of that many runs (where one cold run costs a minute)."""
        out: dict[str, dict[str, float]] = {}
        for tool in tools:
            if tool == "limit":
                out |= self.limit(ws, port)
                continue
            target = self.fresh(port)
            cold = run(tool, ws, target, noop=False)
            times, peaks = [], []
            for _ in range(noops):
                times.append(run(tool, ws, target, noop=True))
                peaks.append(PEAK_KIB[f"{tool} noop"])
            noop = statistics.median(times)
            PEAK_KIB[f"{tool} noop"] = own_peak(tool, ws, target) or max(peaks)
            out[tool] = {"cold": cold, "noop": noop}
            out[tool] |= {f"{k}_kib": PEAK_KIB[f"{tool} {k}"] for k in ("cold", "noop")}
            if f"{tool} cold" in ROUND_TRIPS:  # through the proxy: what the cold run paid
                trips, connections = ROUND_TRIPS[f"{tool} cold"]
                out[tool] |= {"cold_round_trips": trips, "cold_connections": connections}
            self.drop(target)
        if "floor" in tools:
            out["reference"] = {"noop": noop_floor(self.fresh(port))}
        return out


def summarise(rounds: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Median times and peak memory, and the median of per-round ratios to the floor."""
    summary: dict[str, dict[str, float]] = {}
    for tool in rounds[0]:
        row: dict[str, float] = {}
        for key in rounds[0][tool]:
            row[key] = statistics.median(r[tool][key] for r in rounds)
        for kind in ("cold", "noop"):
            if kind in row and kind in rounds[0].get("floor", {}) and tool != "reference":
                row[f"{kind}_ratio"] = statistics.median(
                    r[tool][kind] / r["floor"][kind] for r in rounds
                )
        if "limit" in rounds[0] and "cold" in row and tool != "limit":
            row["limit_ratio"] = statistics.median(
                r[tool]["cold"] / r["limit"]["cold"] for r in rounds
            )
        summary[tool] = row
    return summary


def measure(
    bench: Bench,
    sizes: tuple[int, ...],
    repeats: int,
    delay: float,
    tools: tuple[str, ...] = TOOLS,
    noops: int = 1,
) -> dict[int, dict[str, dict[str, float]]]:
    results: dict[int, dict[str, dict[str, float]]] = {}
    proxy: Callable[[], Any] = (
        (lambda: DelayProxy((bench.server.host, bench.server.port), delay))
        if delay
        else (lambda: nullcontext())
    )
    for n in sizes:
        ws = Workspace(bench.workdir / f"n{n}_{int(delay * 1000)}ms", n)
        rounds = []
        with proxy() as p:
            port = p.port if p is not None else bench.server.port
            PROXY[:] = [p] if p is not None else []
            ROUND_TRIPS.clear()
            warm = bench.fresh(port)  # the first run after install writes bytecode: not timed
            run("supamigrate/psycopg2", ws, warm, noop=False)
            bench.drop(warm)
            for index in range(repeats):
                rounds.append(bench.round(ws, port, tools, noops))
                print(f"  {int(delay * 1000)} ms, N={n}: round {index + 1}/{repeats}", flush=True)
            PROXY.clear()
        results[n] = summarise(rounds)
    return results


PARTS = ("local", "remote_10ms", "remote_50ms", "scale", "big_file")


def main() -> None:
    """Every part by default; `--parts a,b` measures only those and keeps the other parts of
    the last results (benchmarks/results/migrate_speed.json), so a part can be re-measured."""
    quick = "--quick" in sys.argv
    repeats = 2 if quick else int(os.environ.get("BENCH_REPEATS", "7"))
    parts = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--parts=")), "")
    wanted = tuple(parts.split(",")) if parts else PARTS
    if not CLI.exists():
        raise SystemExit("The Supabase CLI is missing: run `npm ci` first.")
    far = ("limit", "supamigrate/psycopg2", "supabase", *TOOLS[5:])  # + dbmate
    saved = HERE / "results" / "migrate_speed.json"
    data: dict[str, Any] = json.loads(saved.read_text()) if parts and saved.is_file() else {}
    data["repeats"] = repeats
    with throwaway_server("supamigrate-speed-") as (server, root):
        bench = Bench(server, root / "work")
        if "local" in wanted:
            data["local"] = measure(bench, (20, 200), repeats, 0.0)
        # Through the proxy the hand-written psql session pays a round trip per statement
        # (about a minute at N=200): at N=200 only its no-op runs, for the limit.
        if "remote_10ms" in wanted:
            remote = measure(bench, (20,), repeats, 0.010)
            data["remote_10ms"] = remote | measure(bench, (200,), repeats, 0.010, far)
        if "remote_50ms" in wanted:  # 100 ms round trips: a CI runner on another continent
            # dbmate pays a round trip per statement: about 3 minutes a run here; left out
            data["remote_50ms"] = measure(bench, (200,), repeats, 0.050, far[:3])
        if "scale" in wanted:  # a cold run at 10,000 takes a minute per tool: one round
            tools = ("floor", "supamigrate/psycopg2")
            data["scale"] = measure(bench, (10_000,), 1, 0.0, tools, noops=5)
        if "big_file" in wanted:  # inside: the scratch directory goes with the server
            from big_file import big_file

            data["big_file"] = big_file(bench, root, env_for)
    (HERE / "results").mkdir(exist_ok=True)
    saved.write_text(json.dumps(data, indent=2))
    from speed_report import write_report

    write_report(data, HERE / "results" / "migrate_speed.md", HERE / "migrate_speed.png")


if __name__ == "__main__":
    main()
