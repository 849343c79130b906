"""`invoke advise`: the live-database advisors on any project, for people, JSON and GitHub."""

from __future__ import annotations

import os
import sys

from supamigrate.advise.model import Finding, Level
from supamigrate.advise.run import Advice, advise
from supamigrate.output import Reporter
from supamigrate.run.config import Config

_GITHUB = {Level.ERROR: "error", Level.WARNING: "warning", Level.INFO: "notice"}


def failing(findings: tuple[Finding, ...], *, strict: bool) -> list[Finding]:
    """The findings that fail the run: errors, and with --strict warnings (never info)."""
    levels = {Level.ERROR, Level.WARNING} if strict else {Level.ERROR}
    return [f for f in findings if f.lint.level in levels]


def run_advise(config: Config, out: Reporter, *, strict: bool) -> int:
    """Read-only, in one transaction that is rolled back; 1 if a finding fails the run."""
    from supamigrate.connect.db import session

    with session(config.target, connect_timeout=config.connect_timeout) as conn:
        try:
            with conn.cursor() as cur:
                result = advise(cur)
        finally:
            conn.rollback()
    report(result, out, strict=strict)
    if os.environ.get("GITHUB_ACTIONS") == "true":
        # GitHub reads workflow commands from the log; under --json they go to stderr so the
        # document on stdout stays one JSON document.
        stream = sys.stderr if out.as_json else sys.stdout
        for line in github_annotations(result.findings):
            print(line, file=stream, flush=True)
    return 1 if failing(result.findings, strict=strict) else 0


def report(result: Advice, out: Reporter, *, strict: bool) -> None:
    schemas = ", ".join(result.app_schemas) or "none"
    every = len(result.ran) + len(result.skipped)
    out.say(f"Advisors: {len(result.ran)} of {every} lints apply here (exposed schemas: {schemas})")
    width = max((len(f.lint.name) for f in result.findings), default=0)
    for finding in result.findings:
        lint = finding.lint
        out.say(
            f"  {lint.level.value.upper():<7}  {lint.category.value:<11}  "
            f"{lint.name:<{width}}  {finding.obj}"
        )
        out.say(f"           fix: {finding.fix}")
    for lint, need in result.skipped:
        out.say(f"  skipped  {lint.name}: does not apply here ({need.replace('_', ' ')}: none)")
    counts = {level: sum(1 for f in result.findings if f.lint.level is level) for level in Level}
    failed = bool(failing(result.findings, strict=strict))
    verdict = "FAILED" if failed else "passed"
    mode = " (--strict: warnings fail)" if strict else ""
    out.say(
        f"{counts[Level.ERROR]} errors, {counts[Level.WARNING]} warnings, "
        f"{counts[Level.INFO]} info: advise {verdict}{mode}"
    )
    out.fact("exposed_schemas", list(result.app_schemas))
    out.fact(
        "lints",
        [
            {
                "name": lint.name,
                "level": lint.level.value,
                "category": lint.category.value,
                "title": lint.title,
                "applies": lint in result.ran,
                "findings": [f.obj for f in result.findings if f.lint is lint],
            }
            for lint in (*result.ran, *(lint for lint, _ in result.skipped))
        ],
    )
    out.fact("findings", [f.as_dict() for f in result.findings])
    out.fact("counts", {level.value: counts[level] for level in Level})
    out.fact("strict", strict)
    out.fact("result", "failed" if failed else "passed")


def github_annotations(findings: tuple[Finding, ...]) -> list[str]:
    """One workflow command per finding (info as a notice), titled with the lint's name."""
    return [
        f"::{_GITHUB[f.lint.level]} title={_property('advise ' + f.lint.name)}::"
        f"{_data(f'{f.lint.title}: {f.obj}. Fix: {f.fix}')}"
        for f in findings
    ]


def _data(text: str) -> str:
    # GitHub's escaping for workflow command data and properties (actions/toolkit command.ts).
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")
