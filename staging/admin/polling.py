"""Admin pages for polling and backfills."""
