"""Which method applies migrations, and why the others were skipped.

`auto` walks the configured order (default supabase, psycopg2, psql, manual) and takes the
first that can run: supabase only when the project is linked and the CLI is found; psycopg2
when the driver imports; psql when the client is on PATH; manual always.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from supamigrate.config import Config
from supamigrate.errors import UsageError

METHOD_NAMES = ("supabase", "psycopg2", "psql", "manual")


@dataclass(frozen=True)
class Choice:
    name: str
    reason: str
    skipped: tuple[tuple[str, str], ...] = ()
    cli: Path | None = None

    def describe(self) -> str:
        text = f"{self.name} ({self.reason})"
        if self.skipped:
            text += "; skipped: " + "; ".join(f"{n}: {why}" for n, why in self.skipped)
        return text


def find_cli(root: Path, environ: Mapping[str, str]) -> Path | None:
    """SUPABASE_CLI, then ./node_modules/.bin/supabase (npm ci), then PATH."""
    for candidate in (
        environ.get("SUPABASE_CLI"),
        str(root / "node_modules" / ".bin" / "supabase"),
        shutil.which("supabase"),
    ):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return Path(candidate)
    return None


def linked_ref(config: Config) -> str | None:
    """The project ref from `supabase link` (supabase/.temp) or SUPABASE_PROJECT_ID."""
    temp = config.supabase_dir / ".temp"
    ref_file = temp / "project-ref"
    if ref_file.is_file() and ref_file.read_text(encoding="utf-8").strip():
        return ref_file.read_text(encoding="utf-8").strip()
    linked = temp / "linked-project.json"
    if linked.is_file():
        try:
            ref = json.loads(linked.read_text(encoding="utf-8")).get("ref")
        except (ValueError, AttributeError):
            ref = None
        if ref:
            return str(ref)
    return config.supabase_env.get("SUPABASE_PROJECT_ID")


def _why_not(name: str, config: Config, environ: Mapping[str, str]) -> str | None:
    """None when `name` can run here, else the reason it cannot."""
    if name == "supabase":
        if config.target.connection_kind == "transaction pooler":
            return (
                "the target is the transaction pooler (port 6543), where `supabase db push` "
                "can fail on prepared statements; use the session pooler (port 5432) for it"
            )
        if find_cli(config.root, environ) is None:
            return "Supabase CLI not found (run `npm ci`, or set SUPABASE_CLI)"
        if linked_ref(config) is None:
            return "project not linked (`invoke link`, or set SUPABASE_PROJECT_ID)"
        return None
    if name == "psycopg2":
        return None if importlib.util.find_spec("psycopg2") else "psycopg2 cannot be imported"
    if name == "psql":
        return None if shutil.which("psql") else "psql is not on PATH"
    return None


def choose(requested: str, config: Config, environ: Mapping[str, str] | None = None) -> Choice:
    env = dict(os.environ if environ is None else environ)
    if requested != "auto":
        if requested not in METHOD_NAMES:
            raise UsageError(f"--method {requested!r}: choose auto, {', '.join(METHOD_NAMES)}.")
        why = _why_not(requested, config, env)
        if why is not None:
            raise UsageError(f"--method {requested} cannot run: {why}.")
        return Choice(requested, "forced by --method", (), find_cli(config.root, env))
    skipped: list[tuple[str, str]] = []
    for name in config.methods:
        why = _why_not(name, config, env)
        if why is None:
            return Choice(name, "auto", tuple(skipped), find_cli(config.root, env))
        skipped.append((name, why))
    return Choice("manual", "auto: nothing else can run", tuple(skipped))


def pooler_notes(config: Config, method: str) -> list[str]:
    """What the connection kind means for this run, said before anything runs."""
    kind = config.target.connection_kind
    if kind == "session pooler":
        return [
            "Connection: Supabase session pooler (port 5432): one server connection for the "
            "whole run, like a direct connection; every method works through it."
        ]
    if kind != "transaction pooler":
        return []
    notes = [
        "Connection: Supabase transaction pooler (port 6543): each transaction may land on a "
        "different server connection. psycopg2 and psql work through it (each migration is one "
        "transaction holding its own lock, no prepared statements, no session settings kept); "
        "files marked -- supamigrate:no-transaction need the session pooler (port 5432)."
    ]
    if method == "supabase":
        notes.append(
            "WARNING: `supabase db push` through the transaction pooler can fail with "
            "'prepared statement ... already exists'; use the session pooler (same host, "
            "port 5432) or the direct connection for the CLI."
        )
    return notes
