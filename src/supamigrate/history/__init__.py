"""The Supabase CLI's history table: its SQL, reading it, remembered digests."""
