"""The two readings of a migration: the CLI-exact split and Postgres's own parser."""
