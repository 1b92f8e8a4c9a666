"""The ``undo`` sub-command: a batch's changes on the board taken back, as a batch of its own.

The plan comes from the audit trail of batch N (``MON_AuditLog``): the items it created are archived
(their subitems go with them), the subitems it created under items that were there before are
deleted, the cells it updated are set back to their value before, and the items it moved go back to
their group. A cell that no longer holds what batch N wrote is left alone and reported as a conflict:
a later batch changed it (the audit says so), or a person did (the board's current values, read in
bulk by id with ``items(ids:) { column_values(ids:) }`` and an explicit limit, say so). Removals of
batch N (archived or deleted items) are not brought back.

The undo is staged as an ordinary batch (``MON_BatchProcessing.undo_of_batch`` names batch N) and
sent by the sync's own machinery (``core.push``): requests stored with their Idempotency-Key before
they leave, settled exactly once, resumed after a crash by ``undo --batch N`` again, cancellable
like a sync. Its audit rows say RESTORED for a cell set back, MOVED, ARCHIVED and DELETED for the rest.

Production follows, so the next sync knows the board: a line whose creation was undone (and a
subitem whose creation was undone) leaves the production tables, so it is NEW again; a restored
line holds its values before, with a line hash that matches no source line, so the next sync compares
it column by column and sends what the source says now.
"""

from core.undo.plan import Cell, UndoPlan, render_plan
from core.undo.processor import UndoProcessor

__all__ = ["Cell", "UndoPlan", "UndoProcessor", "render_plan"]
