"""Admin pages for received records, attempts and the exchange log."""
