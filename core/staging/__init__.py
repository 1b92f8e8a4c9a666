"""Staging: batches, staged rows and their transitions, error records (written and read in ``errors``),
promotion into the production tables, the request ledger, and the batch overview."""
