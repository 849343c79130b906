"""Where runner.py and tasks.py import verify from; the code lives in supamigrate.tenant."""

from supamigrate.tenant import VERIFY_SQL, Check, Level, report_lines, run_checks, summary, verdict
from supamigrate.tenant.names import HELPERS, PLATFORM_TABLES

__all__ = [
    "HELPERS",
    "PLATFORM_TABLES",
    "VERIFY_SQL",
    "Check",
    "Level",
    "report_lines",
    "run_checks",
    "summary",
    "verdict",
]
