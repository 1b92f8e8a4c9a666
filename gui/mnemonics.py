"""Every Alt+letter of the operator window in one table, so no letter is taken twice.

Each labelled control of the window takes its text from ``TEXT``; ``&`` marks its letter. The
panes of other modules (the run panel, the failed lines, the log) take theirs from here too, so one
look at this table shows which letters are free. tests/test_gui_keyboard.py collects the text of
every button, action and label of the real window and fails when a letter is used twice.

Shortcuts that are not mnemonics (Ctrl+Enter, F5…) are in ``SHORTCUT``.
"""

from __future__ import annotations

import re

TEXT = {
    # -- the customers pane (gui/customers_pane.py)
    "customer_filter": "F&ind customer:",  # the filter's label; Alt+I goes to the filter
    "show_all": "Show &all customers",
    "tick_shown": "&Tick all shown",
    "untick_all": "&Untick all",
    "preview": "&Preview…",
    "sync": "&Sync",  # the Sync button adds the count: "&Sync 3 customers"
    # -- the run panel (gui/run_panel.py)
    "cancel": "&Cancel",
    "batch_history": "Batch &history…",  # the batches' context menu (gui/history_view.py)
    "undo_batch": "U&ndo this batch…",  # the batches' context menu (gui/undo_dialog.py)
    # -- the failed lines (gui/failures_pane.py)
    "retry_group": "&Retry these lines",
    "retry_selected": "Retr&y selected",
    "export": "&Export CSV…",
    "flat_list": "Show all rows as a f&lat list",
    "group_by_cause": "&Group by cause",
    "dismiss": "&Dismiss",
    "show_resolved": "Show resol&ved",
    # -- the decision list (gui/decisions_pane.py)
    "keep_board": "&Keep the board's value",
    "use_erp": "Send the ERP's value t&o the board",
    # -- the toolbar (gui/window_layout.py)
    "check_board": "Check the &board…",  # the drift check (gui/drift_dialog.py)
    # -- the log dock (gui/log_pane.py)
    "open_log": "Open Log &Folder",
}

SHORTCUT = {
    "sync": "Ctrl+Return",
    "preview": "Ctrl+P",
    "refresh": "F5",
    "cancel": "Ctrl+.",
    "settings": "Ctrl+,",
    "about": "F1",
    "find": "Ctrl+F",
    "check_board": "Ctrl+B",
    "tick_shown": "Ctrl+A",  # in the customers list: tick every customer shown
}

_MNEMONIC = re.compile(r"(?<!&)&([^&\s])")


def mnemonic(text: str) -> str | None:
    """The letter ``&`` marks in ``text`` (upper case), None when it has none (``&&`` is a plain &)."""
    found = _MNEMONIC.search(text.replace("&&", ""))
    return found.group(1).upper() if found else None


def strip(text: str) -> str:
    """``text`` as shown, without its ``&``."""
    return text.replace("&&", "\0").replace("&", "").replace("\0", "&")
