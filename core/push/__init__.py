"""Pushing a staged batch to monday: payloads, the request stream, and settling what is unknown.

- ``payloads``: the mutations a staged row needs, decided before anything is sent;
- ``stream``: requests stored in the ledger, sent, resent under the same key, settled;
- ``reconcile``: when a key can no longer be honoured, the board is asked what it holds; and what
  people did on the board (deleted, archived, duplicated items) is found and handled.
"""
