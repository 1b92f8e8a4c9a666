"""Table models of the operator window: customers with pending work, live batches, failed rows.

One module per model with its proxy (``customers``, ``batches``, ``errors``), the row-diff engine they
share (``keyed``) and the roles, constants and formatting they use (``common``). Import from here.

All three are keyed tables (customer name / batch_id / error ref). ``set_rows`` is called on every
refresh tick with the full current list and turns it into row-level changes, the way a view wants
them: ``rowsRemoved`` for keys that went, one ``dataChanged`` per changed row spanning only the
columns whose value changed, ``rowsInserted`` for new keys. Never a model reset, so selection,
current row, scroll position and check boxes survive a refresh.

The error grid must stay fast with 100,000 rows, which shapes the storage:

* rows live in plain parallel Python lists (key, row dict, a tuple of the compared values); a
  refresh compares tuples, which runs in C;
* display strings are made once per row, the first time the row is painted, and cached until the
  row changes: only the few dozen visible rows ever pay for formatting;
* the sort keys of a column are computed once, in one list comprehension, when the grid is sorted
  by that column, and kept up to date while it stays the sort column;
* the filter's search runs over one lowercase haystack per row, made once;
* what a view asks ``data()`` for while painting creates no objects: cached strings, constants,
  values already stored.

Sorting 100,000 rows through ``QSortFilterProxyModel``'s own sort would call ``data()`` from C++
about 3.4 million times (13 s measured); ``ErrorsFilterProxy.sort`` therefore hands the sort to
``ErrorsModel.sort``, which orders its rows in Python with the precomputed keys and announces it as
one layout change. See ``ErrorsFilterProxy`` for why the proxy does not sort or filter dynamically.
"""

from gui.models.batches import (
    COL_BATCH,
    COL_ETA,
    COL_FAILED,
    COL_ITEMS,
    COL_OWNER,
    COL_PROGRESS,
    COL_SENT,
    COL_STARTED,
    COL_STATUS,
    COL_SUBITEMS,
    COL_SUCCEEDED,
    COL_THROUGHPUT,
    STATUS_TEXT,
    BatchesModel,
    status_text,
)
from gui.models.common import (
    KeyRole,
    ProgressRole,
    RetryableRole,
    RowRole,
    SortRole,
    as_utc,
    format_duration,
    format_local,
    format_rate,
    format_utc,
)
from gui.models.customers import (
    COL_CHANGED,
    COL_CHECK,
    COL_ERRORS,
    COL_INVALID,
    COL_LAST_SYNC,
    COL_NEW,
    COL_REMOVED,
    CustomersFilterProxy,
    CustomersModel,
)
from gui.models.errors import (
    COL_ACTION,
    COL_CODE,
    COL_LAST,
    COL_MESSAGE,
    COL_ORDER,
    COL_PO,
    COL_RETRIES,
    COL_RETRYABLE,
    COL_SIZE,
    COL_TYPE,
    ErrorsFilterProxy,
    ErrorsModel,
)

__all__ = [
    "COL_ACTION",
    "COL_BATCH",
    "COL_CHANGED",
    "COL_CHECK",
    "COL_CODE",
    "COL_ERRORS",
    "COL_ETA",
    "COL_FAILED",
    "COL_INVALID",
    "COL_ITEMS",
    "COL_LAST",
    "COL_LAST_SYNC",
    "COL_MESSAGE",
    "COL_NEW",
    "COL_ORDER",
    "COL_OWNER",
    "COL_PO",
    "COL_PROGRESS",
    "COL_REMOVED",
    "COL_RETRIES",
    "COL_RETRYABLE",
    "COL_SENT",
    "COL_SIZE",
    "COL_STARTED",
    "COL_STATUS",
    "COL_SUBITEMS",
    "COL_SUCCEEDED",
    "COL_THROUGHPUT",
    "COL_TYPE",
    "STATUS_TEXT",
    "BatchesModel",
    "CustomersFilterProxy",
    "CustomersModel",
    "ErrorsFilterProxy",
    "ErrorsModel",
    "KeyRole",
    "ProgressRole",
    "RetryableRole",
    "RowRole",
    "SortRole",
    "as_utc",
    "format_duration",
    "format_local",
    "format_rate",
    "format_utc",
    "status_text",
]
