"""The user-facing exception hierarchy, each class tied to one exit code.

Library code raises these; the task layer catches `SupamigrateError` once and exits with
`exit_code`, printing the (masked) message. Every message says what to do next.
"""

from __future__ import annotations


class SupamigrateError(Exception):
    """Base for errors a user can act on. Exit code 1 unless a subclass says otherwise."""

    exit_code = 1


class UsageError(SupamigrateError):
    """Bad flags or bad input files, detected before anything touches the database."""

    exit_code = 2


class ConfigError(UsageError):
    """Configuration that cannot work: malformed URL, missing directory, missing binaries."""


class CheckFailed(SupamigrateError):
    """A check (drift, mirror --check, verify) found a problem."""


class MigrationFailed(SupamigrateError):
    """A migration failed to apply; the database was left as it was before it."""


class DatabaseUnavailable(SupamigrateError):
    """The database could not be reached or refused the login."""
