"""One run of a command: its config, the commands, preflight, the apply loop, and
the rehearsal's report."""
