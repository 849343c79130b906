"""The live-database advisors (Supabase's splinter lint families, named and levelled as it
names them): `invoke advise` on any project, and part of `verify`. Engine side: they know
nothing of tenants."""

from supamigrate.advise.model import Category, Finding, Level, Lint
from supamigrate.advise.run import LINTS, Advice, advise

__all__ = ["LINTS", "Advice", "Category", "Finding", "Level", "Lint", "advise"]
