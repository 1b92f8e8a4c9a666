"""Pushing a staged batch to monday: payloads, the request stream, and settling what is unknown.

- ``run``: ``BatchProcessor``, the customers of a run and the phases of each batch, built from
  ``base`` (the board, waits that heartbeat, progress reports) and ``phases`` (settle what an
  earlier run left, check the board, ensure groups, push, settle answers, promote); ``progress``:
  progress sinks, each customer's ``BatchResult`` and the run's exit code;
- ``payloads``: the mutations a staged row needs, decided before anything is sent;
- ``stream``: requests stored in the ledger, sent, resent under the same key, settled;
- ``reconcile``: when a key can no longer be honoured, the board is asked what it holds; and what
  people did on the board (deleted, archived, duplicated items) is found and handled.
"""
