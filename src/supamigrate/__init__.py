"""supamigrate: apply SQL migrations to Supabase Postgres, safely."""
