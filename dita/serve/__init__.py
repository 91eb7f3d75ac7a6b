"""`dita serve` (a live dashboard of journals) and the read-only journal view behind it and `dita status`."""
