"""The Supabase CLI method: our checks first, then the real `supabase db push` applies.

The CLI targets the resolved database by URL (`--remote=<url without password>`), with the
password in PGPASSWORD, never in argv; with `--linked` it gets a bare `--remote` (the linked
project) and the password in SUPABASE_DB_PASSWORD, which it reads itself. Its output is
streamed through `mask`. Reading history, drift checks, `--rehearse` and re-runs stay on
psycopg2.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

from supamigrate.dburl import DbTarget
from supamigrate.errors import MigrationFailed
from supamigrate.masking import mask


def push_command(
    cli: Path, target: DbTarget, workdir: Path, *, dry: bool, include_all: bool, linked: bool
) -> list[str]:
    remote = "--remote" if linked else f"--remote={target.url(with_password=False)}"
    command = [str(cli), "db", "push", remote]
    command += ["--workdir", str(workdir)]
    command += ["--dry-run"] if dry else ["--yes"]  # --yes only after our own confirmation
    command += ["--include-all"] if include_all else []
    return command


def push_env(target: DbTarget, passthrough: dict[str, str], *, linked: bool) -> dict[str, str]:
    env = {**os.environ, **passthrough}
    if target.password:
        env["SUPABASE_DB_PASSWORD" if linked else "PGPASSWORD"] = target.password
    return env


def push(
    cli: Path,
    target: DbTarget,
    workdir: Path,
    *,
    dry: bool,
    include_all: bool,
    linked: bool,
    passthrough: dict[str, str],
    say: Callable[[str], None],
) -> None:
    """Run `supabase db push`, streaming its output masked; raise MigrationFailed on failure."""
    command = push_command(cli, target, workdir, dry=dry, include_all=include_all, linked=linked)
    say(f"$ {mask(' '.join(command))}")
    process = subprocess.Popen(
        command,
        env=push_env(target, passthrough, linked=linked),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:
        say(f"  supabase: {mask(line.rstrip())}")
    code = process.wait()
    if code != 0:
        raise MigrationFailed(
            f"`supabase db push` failed (exit {code}); see its output above. Each migration it "
            "runs is one implicit transaction: the failing one was rolled back."
        )
