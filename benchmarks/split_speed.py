"""How fast a big file is split (CLI-compatible) and checked (pre-flight, Postgres's parser).

Generates 5, 10 and 50 MB migrations from realistic statements (tables, inserts with E'' and
standard strings, dollar-quoted plpgsql, BEGIN ATOMIC functions, nested comments, policies)
and times one split of each, uncached, plus a typical small file. Cost must grow linearly:
the 50 MB time should be about ten times the 5 MB one and take seconds, not minutes.

Run: `python benchmarks/split_speed.py [--sizes 5,10,50]`. Prints the numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import time

from supamigrate.sql.sqlsplit import _split_cached, split_statements, statements_text

BLOCKS = [
    "create table public.t{n} (id bigint primary key, name text not null, note text);\n",
    "insert into public.t{n} (id, name, note) values ({n}, 'it''s; fine', E'tab\\there\\'s;');\n",
    "-- a comment; with a semicolon\n/* block /* nested ; */ comment */\n",
    "create function public.f{n}() returns int language plpgsql as $body$\nbegin\n"
    "  perform 1; -- inside\n  return {n};\nend\n$body$;\n",
    "create function public.g{n}(i int) returns int language sql\nbegin atomic\n"
    "  select case when i > 0 then i else 0 end;\n  select i + {n};\nend;\n",
    'create policy "p{n}; read" on public.t{n} for select using (id = any (array[1, 2, {n}]));\n',
    "select (1 + {n}) * 2 as atomic_number, 'x' || $$ ; $$ as dollars;\n",
]


def generate(megabytes: int) -> str:
    """A migration of about `megabytes` MB made of the blocks above, numbered."""
    parts: list[str] = []
    size = 0
    n = 0
    while size < megabytes * 1_000_000:
        block = BLOCKS[n % len(BLOCKS)].format(n=n)
        parts.append(block)
        size += len(block)
        n += 1
    return "".join(parts)


def time_split(sql: str) -> tuple[float, int]:
    """Seconds for one CLI-compatible split on a cold cache, and the number of rows."""
    _split_cached.cache_clear()
    started = time.perf_counter()
    rows = statements_text(sql)
    return time.perf_counter() - started, len(rows)


def time_split_and_check(sql: str) -> float:
    """Seconds for what `invoke migrate` does with one pending file before it runs it: the
    pre-flight check (Postgres's parser over the whole file, every refusal) and the split for
    the history row, on a cold cache. For a big file the two run side by side (preflight)."""
    from pathlib import Path

    from supamigrate.project.files import MigrationFile
    from supamigrate.run.preflight import check_files

    _split_cached.cache_clear()
    migration = MigrationFile("20250101000000", "big", Path("big.sql"), sql, "001_big")
    started = time.perf_counter()
    check_files([migration])
    split_statements(sql)
    return time.perf_counter() - started


def small_file_ms(repeats: int = 2000) -> float:
    """Milliseconds per split of a typical 2 KB migration (what every run pays per file)."""
    sql = "".join(block.format(n=1) for block in BLOCKS) * 2
    started = time.perf_counter()
    for _ in range(repeats):
        _split_cached.cache_clear()
        statements_text(sql)
    return (time.perf_counter() - started) * 1000 / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="5,10,50", help="file sizes in MB, comma separated")
    sizes = [int(size) for size in parser.parse_args().sizes.split(",")]
    print(f"typical small file: {small_file_ms():.3f} ms per split")
    for megabytes in sizes:
        sql = generate(megabytes)
        seconds, rows = time_split(sql)
        together = time_split_and_check(sql)
        print(
            f"{megabytes:>3} MB: split alone {seconds:6.2f} s ({rows} statements); "
            f"split + check {together:6.2f} s"
        )


if __name__ == "__main__":
    main()
