"""`invoke db.seed` at its default size: 2,000 users and 200,000 files rows, then 001-005.

The seed's speed goal (under 10 s, so the README's first command stays quick) is measured here,
not asserted in a test (tests/local/test_demo.py checks what the seed makes). Each round uses a
fresh database of a throwaway Postgres (same code as `invoke db.start`). Writes
benchmarks/results/seed_speed.md (and prints it). Run: `nox -s bench`.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from supamigrate.connect.db import session  # noqa: E402
from supamigrate.local.demo import seed_demo_app  # noqa: E402
from supamigrate.local.server import LocalServer  # noqa: E402
from supamigrate.local.shim import install_shim  # noqa: E402

REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))
USERS, ROWS_PER_USER = 2000, 100  # tasks.py db.seed's defaults
TARGET_SECONDS = 10.0


def one_round(server: LocalServer, number: int) -> tuple[float, float]:
    """(seed seconds, migrate seconds) on a fresh database."""
    from helpers.tenancy import apply

    admin, user = server.admin_target(), server.user_target()
    name = f"seed_bench_{number}"
    with session(admin, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute(f"drop database if exists {name}")
        cur.execute(f"create database {name} owner {user.user}")
    install_shim(admin.with_database(name))
    target = user.with_database(name)
    started = time.perf_counter()
    with session(target) as conn, conn.cursor() as cur:
        summary = seed_demo_app(cur, users=USERS, rows_per_user=ROWS_PER_USER)
    seeded = time.perf_counter() - started
    assert summary.rows["files"] == USERS * ROWS_PER_USER, summary
    started = time.perf_counter()
    apply(target)
    return seeded, time.perf_counter() - started


def report(rounds: list[tuple[float, float]]) -> str:
    seed = statistics.median(s for s, _ in rounds)
    migrate = statistics.median(m for _, m in rounds)
    verdict = "met" if seed <= TARGET_SECONDS else "missed"
    return "\n".join(
        [
            "## Demo seed (`benchmarks/seed_speed.py`)",
            "",
            f"`invoke db.seed` at its defaults ({USERS:,} users, {USERS * ROWS_PER_USER:,} files "
            f"rows), each round on a fresh database; median of {len(rounds)} rounds.",
            "",
            "| step | seconds |",
            "| --- | ---: |",
            f"| seed | {seed:.1f} |",
            f"| 001-005 on the seeded app | {migrate:.1f} |",
            "",
            f"Target: the seed in at most {TARGET_SECONDS:.0f} s: {verdict}.",
            "",
        ]
    )


def main() -> None:
    from throwaway import throwaway_server

    with throwaway_server("supamigrate-bench-") as (server, _):
        rounds = [one_round(server, n) for n in range(REPEATS)]
    section = report(rounds)
    out = Path(__file__).resolve().parent / "results" / "seed_speed.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(section)
    print(section)


if __name__ == "__main__":
    main()
