"""Tenant verification: checks with levels, the signup and isolation probes, splinter lints."""

from supamigrate.tenant.checks import Check, Level, report_lines, summary, verdict
from supamigrate.tenant.verify import run_checks
from supamigrate.tenant.verify_sql import VERIFY_SQL

__all__ = ["VERIFY_SQL", "Check", "Level", "report_lines", "run_checks", "summary", "verdict"]
