"""Three ways to show findings: for people, as JSON, and as GitHub Actions annotations."""

from __future__ import annotations

from typing import Any

from supamigrate.lint.findings import Finding, Level

_GITHUB_COMMANDS = {Level.ERROR: "error", Level.WARNING: "warning", Level.INFO: "notice"}


def human_lines(findings: list[Finding]) -> list[str]:
    """`path:line: level rule: message`, then the fix; a suppression shows its reason."""
    lines = []
    for finding in findings:
        allowed = f" (allowed: {finding.suppressed})" if finding.suppressed else ""
        lines.append(
            f"{finding.path}:{finding.line}: {finding.level.value} {finding.rule}: "
            f"{finding.message}{allowed}"
        )
        lines.append(f"    fix: {finding.fix}")
    return lines


def to_json(findings: list[Finding]) -> list[dict[str, Any]]:
    # asdict's field order, built directly: asdict deep-copies each field (a history has
    # thousands of findings)
    return [
        {
            "path": f.path,
            "line": f.line,
            "rule": f.rule,
            "level": f.level.value,
            "message": f.message,
            "fix": f.fix,
            "suppressed": f.suppressed,
        }
        for f in findings
    ]


def github_annotations(findings: list[Finding]) -> list[str]:
    """Workflow commands; a suppressed finding becomes a notice that names its reason."""
    lines = []
    for finding in findings:
        command = "notice" if finding.suppressed else _GITHUB_COMMANDS[finding.level]
        message = f"{finding.message}. Fix: {finding.fix}"
        if finding.suppressed:
            message = f"allowed ({finding.suppressed}): {message}"
        properties = (
            f"file={_property(finding.path)},line={finding.line},title={_property(finding.rule)}"
        )
        lines.append(f"::{command} {properties}::{_data(message)}")
    return lines


def _data(text: str) -> str:
    # GitHub's escaping for workflow command data and properties (actions/toolkit command.ts).
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _property(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")
