"""How fast `supamigrate lint --all` reads a long history, next to squawk on the same files.

Generates a realistic history (default 1,262 files, about 9.9 MB, seeded): tables with RLS,
policies and indexes, column changes, plpgsql functions and triggers, views, enums, grants,
seed data, and a few large dump-like files (a `supabase db pull` schema, data inserts), then
times, REPEATS times (BENCH_REPEATS, default 5), interleaved:
- `supamigrate lint --all` in the generated project (the whole command: start-up, reading
  the migrations, parsing, every rule, the report);
- `squawk` over the same files, from its npm package (SQUAWK, or
  /tmp/squawk/node_modules/.bin/squawk: `npm install --no-save --prefix /tmp/squawk
  squawk-cli`), when installed.
Each command runs once first, uncounted, in a user's environment (bytecode caching on, as
after `pip install`). Writes benchmarks/results/lint_speed.md and .json (median, min, max
seconds and the ratio).
Run: `python benchmarks/lint_speed.py [--files N] [--keep DIR]`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
DEFAULT_FILES = 1262
DUMP_FILES = 4  # large pg_dump-like files among them
DUMP_TABLES = 560  # tables per dump file (about 1.2 MB each with their functions and data)


def _table(rng: random.Random, n: int) -> str:
    cols = [
        "  id bigint generated always as identity primary key",
        "  user_id uuid not null references auth.users (id) on delete cascade",
        "  created_at timestamptz not null default now()",
        "  updated_at timestamptz",
    ]
    for i in range(rng.randint(2, 8)):
        kind = rng.choice(["text", "integer", "numeric(12, 2)", "jsonb", "boolean default false"])
        cols.append(f"  c{i}_{n} {kind}")
    return (
        f"create table public.t{n} (\n" + ",\n".join(cols) + "\n);\n"
        f"create index t{n}_user_id_idx on public.t{n} (user_id);\n"
        f"alter table public.t{n} enable row level security;\n"
        f'create policy "own rows {n}" on public.t{n} for select to authenticated\n'
        f"  using (user_id = (select auth.uid()));\n"
        f'create policy "insert own {n}" on public.t{n} for insert to authenticated\n'
        f"  with check (user_id = (select auth.uid()));\n"
        f"comment on table public.t{n} is 'table {n} of the generated history';\n"
    )


def _function(n: int, lines: int) -> str:
    body = "\n".join(
        f"    if new.c0_{n} is null then new.c0_{n} := 'value {i}'; end if;" for i in range(lines)
    )
    return (
        f"create or replace function public.touch_{n}() returns trigger\n"
        f"language plpgsql set search_path = '' as $$\nbegin\n"
        f"    new.updated_at := now();\n{body}\n    return new;\nend;\n$$;\n"
        f"create trigger touch_{n} before update on public.t{n}\n"
        f"  for each row execute function public.touch_{n}();\n"
    )


def _alter(rng: random.Random, n: int, table: int) -> str:
    return rng.choice(
        [
            f"alter table public.t{table} add column extra_{n} text;\n",
            f"alter table public.t{table} add column flag_{n} boolean not null default false;\n",
            f"alter table public.t{table} add constraint c_{n} check (id > 0) not valid;\n",
            f"alter table public.t{table} alter column updated_at set default now();\n",
            f"alter table public.t{table} rename column updated_at to modified_at_{n};\n",
        ]
    )


def _view(n: int, table: int) -> str:
    return (
        f"create or replace view public.v{n} with (security_invoker = true) as\n"
        f"  select id, user_id, created_at from public.t{table} where created_at > now() - "
        "interval '30 days';\n"
        f"grant select on public.v{n} to authenticated;\n"
    )


def _seed(rng: random.Random, n: int, table: int, rows: int) -> str:
    values = ",\n".join(
        f"  ('{rng.getrandbits(64):016x}', {rng.randint(0, 10**6)}, 'note ✓ {i} for {n}')"
        for i in range(rows)
    )
    return f"insert into public.seed_{table} (key, amount, note) values\n{values};\n"


def _dump(rng: random.Random, n: int) -> str:
    parts = [
        "SET statement_timeout = 0;\nSET lock_timeout = 0;\nSET client_encoding = 'UTF8';\n"
        "SET standard_conforming_strings = on;\n"
        "SELECT pg_catalog.set_config('search_path', '', false);\n"
    ]
    for i in range(DUMP_TABLES):
        table = n * 1000 + i
        parts.append(_table(rng, table))
        parts.append(_function(table, 12))
        parts.append(
            f"create table public.seed_{table} (key text primary key, amount int, note text);\n"
            f"alter table public.seed_{table} enable row level security;\n"
        )
        parts.append(_seed(rng, n, table, 8))
    return "".join(parts)


def generate(directory: Path, files: int, seed: int = 27) -> int:
    """Write the history into directory/supabase/migrations; return its size in bytes."""
    rng = random.Random(seed)
    migrations = directory / "supabase" / "migrations"
    migrations.mkdir(parents=True, exist_ok=True)
    dumps = {0, files // 3, files // 2, (2 * files) // 3}
    tables: list[int] = []
    total = 0
    for n in range(files):
        if n in dumps:
            sql = _dump(rng, n)
        else:
            table = n
            kind = rng.random()
            if kind < 0.35 or not tables:
                sql = _table(rng, table) + _function(table, rng.randint(10, 150))
                tables.append(table)
            elif kind < 0.6:
                sql = "".join(_alter(rng, n * 10 + i, rng.choice(tables)) for i in range(4))
            elif kind < 0.75:
                sql = _view(n, rng.choice(tables))
            elif kind < 0.85:
                sql = (
                    f"create table public.seed_{n} (key text primary key, amount int, note "
                    f"text);\nalter table public.seed_{n} enable row level security;\n"
                    + _seed(rng, n, n, rng.randint(60, 330))
                )
            elif kind < 0.92:
                sql = f"create type public.status_{n} as enum ('new', 'open', 'done');\n"
            else:
                sql = (
                    f"grant select on public.t{rng.choice(tables)} to anon;\n"
                    f"create index concurrently if not exists i_{n} on public.t"
                    f"{rng.choice(tables)} (created_at);\n"
                )
                sql = "-- supamigrate:no-transaction\n" + sql.split("\n", 1)[1]
        name = migrations / f"{20240101000000 + n * 100}_step_{n}.sql"
        name.write_text(sql)
        total += len(sql.encode())
    return total


# As in a user's shell: bytecode caching on (nox and some CI images set
# PYTHONDONTWRITEBYTECODE, which would make every run compile the modules again).
_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def _time(command: list[str], cwd: Path) -> tuple[float, float]:
    """Wall-clock and CPU seconds (user + system, the command and its children)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=_ENV, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 1):  # 1: findings; anything else is a failure to run
        raise SystemExit(f"{command[0]} failed ({done.returncode}): {done.stderr[-500:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def _squawk() -> str | None:
    found = os.environ.get("SQUAWK") or "/tmp/squawk/node_modules/.bin/squawk"  # noqa: S108
    return found if Path(found).exists() else shutil.which("squawk")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--files", type=int, default=DEFAULT_FILES)
    parser.add_argument("--keep", type=Path, help="generate into this folder and keep it")
    args = parser.parse_args()
    repeats = int(os.environ.get("BENCH_REPEATS", "5"))
    work = args.keep or Path(tempfile.mkdtemp(prefix="lint-speed-"))
    size = generate(work, args.files)
    paths = sorted(str(p) for p in (work / "supabase" / "migrations").glob("*.sql"))
    supamigrate = [str(Path(sys.executable).parent / "supamigrate"), "lint", "--all"]
    squawk = _squawk()
    commands = {"supamigrate lint --all": supamigrate}
    if squawk:  # its default report, and its terse one (most of the default's time is output)
        commands["squawk"] = [squawk, *paths]
        commands["squawk --reporter gcc"] = [squawk, "--reporter", "gcc", *paths]
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for command in commands.values():  # a warm-up, not counted: Python writes its bytecode
        _time(command, work)
    load_before = os.getloadavg()[0]
    for _ in range(repeats):  # interleaved, so a busy moment costs each alike
        for name, command in commands.items():
            runs[name].append(_time(command, work))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    load = (load_before, os.getloadavg()[0])
    _report(runs, len(paths), size, squawk, load)


def _report(
    runs: dict[str, list[tuple[float, float]]],
    files: int,
    size: int,
    squawk: str | None,
    load: tuple[float, float],
) -> None:
    wall = {name: statistics.median(t[0] for t in times) for name, times in runs.items()}
    cpu = {name: statistics.median(t[1] for t in times) for name, times in runs.items()}
    lines = [
        "# lint speed",
        "",
        f"{files} files, {size / 1e6:.1f} MB (benchmarks/lint_speed.py), "
        f"{len(next(iter(runs.values())))} interleaved runs each; seconds, median (min-max). "
        f"{os.cpu_count()} cores; load average {load[0]:.2f} before, {load[1]:.2f} after "
        "(others' work on a shared machine slows every tool alike, the wall clock most).",
        "",
        "| tool | wall clock | CPU (user + system) |",
        "| --- | --- | --- |",
    ]
    for name, times in runs.items():
        walls, cpus = [t[0] for t in times], [t[1] for t in times]
        lines.append(
            f"| {name} | {wall[name]:.2f} ({min(walls):.2f}-{max(walls):.2f}) | "
            f"{cpu[name]:.2f} ({min(cpus):.2f}-{max(cpus):.2f}) |"
        )
    ours = "supamigrate lint --all"
    if squawk:
        lines.append("")
        for name in runs:
            if name != ours:
                lines.append(
                    f"supamigrate / {name}: {wall[ours] / wall[name]:.2f}x wall, "
                    f"{cpu[ours] / cpu[name]:.2f}x CPU (median over median)"
                )
    else:
        lines += [
            "",
            "squawk not installed: `npm install --no-save --prefix /tmp/squawk squawk-cli`",
        ]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "lint_speed.md").write_text("\n".join(lines) + "\n")
    data = {"files": files, "bytes": size, "runs": runs, "wall": wall, "cpu": cpu, "load": load}
    (RESULTS / "lint_speed.json").write_text(json.dumps(data, indent=1) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
