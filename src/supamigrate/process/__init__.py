"""The runner's own process: signals, child processes, the garbage collector."""
