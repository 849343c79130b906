"""The local database: a real Postgres from the machine's binaries, and its Supabase shim."""
