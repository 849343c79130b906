"""The tenant content: names, verify checks and probe, rollback-rls. Uses the engine."""
