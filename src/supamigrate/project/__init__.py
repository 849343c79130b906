"""The project on disk: migration files, the mirror and its manifest, the stat
cache, named targets, and the plan (files against history)."""
