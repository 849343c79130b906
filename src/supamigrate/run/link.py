"""`invoke link` and the linked-project target.

Linking is the Supabase CLI's own `supabase link`: it writes the project ref (and, when the
API tells it, the pooler URL) under supabase/.temp/ and changes nothing in the database. We
work out the ref, pass the password in SUPABASE_DB_PASSWORD (never argv), and explain.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from supamigrate.connect.dburl import DbTarget, parse_db_url
from supamigrate.connect.masking import mask
from supamigrate.errors import ConfigError, SupamigrateError, UsageError
from supamigrate.executors.supabase_cli import find_cli
from supamigrate.run.config import Config

_REF = re.compile(r"^[a-z0-9]{20}$")
WHAT_LINK_DOES = (
    "Linking records the project ref in supabase/.temp/ (git-ignored): `supabase` commands and "
    "`invoke migrate` (method auto) then use `supabase db push`. It changes nothing in the "
    "database. It needs network access to api.supabase.com and SUPABASE_ACCESS_TOKEN "
    "(or `npx supabase login`)."
)


def derive_ref(config: Config, project_ref: str | None) -> str:
    """--project-ref, else the ref in DATABASE_URL (pooler user postgres.<ref>, db.<ref> host)."""
    if project_ref:
        ref = project_ref.strip()
        if not _REF.match(ref):
            raise UsageError(
                f"--project-ref {ref!r} is not a project ref: use the 20 lowercase letters "
                "from your dashboard URL (supabase.com/dashboard/project/<ref>)."
            )
        return ref
    derived = config.target.project_ref if config.sources.get("db_url") != "default" else None
    if derived is None:
        raise UsageError(
            "Cannot tell which project to link: pass --project-ref REF, or set DATABASE_URL to "
            "the project's URL (db.<ref>.supabase.co or a pooler URL with user postgres.<ref>)."
        )
    return derived


def files_ref(supabase_dir: Path) -> str | None:
    """The ref `supabase link` wrote, if any (not SUPABASE_PROJECT_ID)."""
    path = supabase_dir / ".temp" / "project-ref"
    text = path.read_text(encoding="utf-8").strip() if path.is_file() else ""
    return text or None


def link_command(cli: Path, ref: str, workdir: Path) -> list[str]:
    return [str(cli), "link", "--project-ref", ref, "--workdir", str(workdir), "--yes"]


def link_env(config: Config, ref: str) -> dict[str, str]:
    """The CLI reads the database password from SUPABASE_DB_PASSWORD; DATABASE_URL's password
    is used only when that URL is the same project's."""
    env = {**os.environ, **config.supabase_env}
    same_project = config.target.project_ref == ref and config.sources.get("db_url") != "default"
    password = config.supabase_env.get("SUPABASE_DB_PASSWORD") or (
        config.target.password if same_project else None
    )
    if password:
        env["SUPABASE_DB_PASSWORD"] = password
    return env


def link(config: Config, ref: str, say: Callable[[str], None]) -> int:
    """Run `supabase link`; a no-op when already linked to `ref`."""
    current = files_ref(config.supabase_dir)
    if current == ref:
        say(f"Already linked to {ref} (supabase/.temp/project-ref): nothing to do.")
        return 0
    cli = find_cli(config.root, os.environ)
    if cli is None:
        raise ConfigError("Supabase CLI not found: run `npm ci` (or set SUPABASE_CLI).")
    say(WHAT_LINK_DOES)
    if current:
        say(f"Re-linking: this project is linked to {current} now; it will be {ref}.")
    command = link_command(cli, ref, config.root)
    say(f"$ {mask(' '.join(command))}")
    result = subprocess.run(
        command,
        env=link_env(config, ref),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
    )
    output = mask((result.stdout + result.stderr).strip())
    for line in output.splitlines():
        say(f"  supabase: {line}")
    if result.returncode != 0 or files_ref(config.supabase_dir) != ref:
        raise SupamigrateError(_link_failure(result.returncode, output))
    say(f"Linked to {ref}. `invoke migrate` now applies through `supabase db push`.")
    return 0


def _link_failure(code: int, output: str) -> str:
    if "access token" in output.lower():
        hint = (
            "set SUPABASE_ACCESS_TOKEN (dashboard > Account > Access Tokens) "
            "or run `npx supabase login`"
        )
    else:
        hint = "check network access to api.supabase.com, the ref, and SUPABASE_ACCESS_TOKEN"
    lines = output.splitlines() or ["no output"]
    telling = ("error", "failed", "not provided", "invalid", "unauthorized")
    reason = next((x for x in lines if any(t in x.lower() for t in telling)), lines[0])
    return f"`supabase link` failed (exit {code}): {reason} Next: {hint}, then retry `invoke link`."


def linked_config(config: Config) -> Config:
    """`--linked`: target the linked project, with SUPABASE_DB_PASSWORD as its password."""
    ref = files_ref(config.supabase_dir) or config.supabase_env.get("SUPABASE_PROJECT_ID")
    if not ref:
        raise ConfigError(
            "--linked: this project is not linked. Run `invoke link --project-ref REF` first."
        )
    password = config.supabase_env.get("SUPABASE_DB_PASSWORD")
    if not password:
        raise ConfigError(
            "--linked needs the database password in SUPABASE_DB_PASSWORD "
            "(environment or .env.secrets)."
        )
    target = linked_target(config.supabase_dir, ref, password)
    sources = {**config.sources, "db_url": f"linked project {ref}"}
    return replace(config, target=target, sources=sources, linked=True)


def linked_target(supabase_dir: Path, ref: str, password: str) -> DbTarget:
    """The pooler URL `supabase link` saved (IPv4-friendly), else the direct host."""
    pooler = supabase_dir / ".temp" / "pooler-url"
    url = pooler.read_text(encoding="utf-8").strip() if pooler.is_file() else ""
    url = url or f"postgresql://postgres@db.{ref}.supabase.co:5432/postgres"
    target = parse_db_url(url, source=f"linked project {ref}", password=password)
    return target.with_user(target.user, password)
