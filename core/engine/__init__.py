"""The wiring: one engine context (settings, database, source, monday client, the embedded sandbox as a
child process), and ``check``, which walks the chain link by link."""
