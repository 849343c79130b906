"""Static safety analysis of migrations (issue #16): `lint_sql`, `lint_files` and reports."""

from supamigrate.lint.catalog import RULES
from supamigrate.lint.engine import lint_files, lint_sql
from supamigrate.lint.findings import Finding, Level, RuleInfo, has_errors
from supamigrate.lint.report import github_annotations, human_lines, to_json

__all__ = [
    "RULES",
    "Finding",
    "Level",
    "RuleInfo",
    "github_annotations",
    "has_errors",
    "human_lines",
    "lint_files",
    "lint_sql",
    "to_json",
]
