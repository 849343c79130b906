"""The two readings of a migration: the CLI-exact split and Postgres's own parser."""

from supamigrate.sql import lazy_pglast

lazy_pglast.install()  # pglast's node classes and enums only when used (30 ms of start-up)
