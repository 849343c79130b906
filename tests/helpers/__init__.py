"""Test helpers, importable by the tests and by benchmarks/ (which put tests/ on sys.path):
the throwaway server, scratch projects, catalog snapshots, fixture schemas, the pooler."""
