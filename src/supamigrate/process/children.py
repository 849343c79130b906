"""Child processes (psql, the Supabase CLI) die with the runner.

A runner killed with SIGKILL cannot clean up; without this its psql would go on reading the
script it was given and commit migrations nobody is watching. On Linux the kernel sends the
child SIGKILL when its parent dies (PR_SET_PDEATHSIG); the server then rolls back the
migration in flight. Elsewhere this is a no-op.
"""

from __future__ import annotations

import signal
import sys

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """A `preexec_fn`: runs in the child between fork and exec."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL))
    except (OSError, AttributeError):  # pragma: no cover - no libc prctl
        return
