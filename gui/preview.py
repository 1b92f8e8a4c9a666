"""Preview: the dry run as a readable per-line, per-field diff, confirmable into a real sync."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QTreeWidget, QTreeWidgetItem, QVBoxLayout

from core.push.forecast import Pace, describe_forecast

KIND_TEXT = {"NEW": "New", "CHANGED": "Changed", "REMOVED": "Removed"}


def _show(value) -> str:
    return "(empty)" if value in (None, "") else str(value)


class PreviewDialog(QDialog):
    """Reads the dry run off the GUI thread, then shows it; Sync sends exactly these customers."""

    syncRequested = Signal(list)

    def __init__(self, bridge, customers: list[str], parent=None):
        super().__init__(parent)
        self.bridge = bridge
        self.customers = customers
        self.setWindowTitle(f"Preview — {', '.join(customers)}")
        self.resize(900, 600)
        self.summary = QLabel("Reading ORDERS_UNIFIED and comparing with the board…")
        self.summary.setWordWrap(True)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Line / field", "Before", "After"])
        self.tree.setAlternatingRowColors(True)
        self.tree.setUniformRowHeights(True)
        self.buttons = QDialogButtonBox()
        self.sync_button = self.buttons.addButton("Sync These Customers", QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.sync_button.setEnabled(False)
        self.buttons.accepted.connect(self._sync)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.summary)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.buttons)
        self.report: list[dict] | None = None
        self.pace = Pace()  # monday's published prices until the bridge tells what this session measured
        self.task = bridge.tasks.start(f"preview:{','.join(customers)}", self._load)

    async def _load(self) -> None:
        try:
            report = await self.bridge.preview(self.customers)
            self.pace = await self.bridge.pace()
        except Exception as exc:  # shown here; the bridge logs it too
            from gui.bridge import describe

            self.summary.setText(describe(exc))
            raise
        self.show_report(report)

    def show_report(self, report: list[dict]) -> None:
        self.report = report
        self.tree.clear()
        totals = {"new": 0, "changed": 0, "removed": 0, "invalid": 0, "mutations": 0, "board_reads": 0}
        for customer in report:
            for key in totals:
                totals[key] += customer.get(key, 0)
            top = QTreeWidgetItem(
                [
                    (
                        f"{customer['customer'] or '(blank)'} — {customer['new']} new, "
                        f"{customer['changed']} changed, {customer['removed']} removed, "
                        f"{customer['invalid']} invalid"
                    ),
                    "",
                    "",
                ]
            )
            self.tree.addTopLevelItem(top)
            for line in customer["lines"]:
                item = QTreeWidgetItem([f"{KIND_TEXT[line['kind']]}: {line['item_name'] or line['sync_key']}", "", ""])
                top.addChild(item)
                if line["kind"] == "NEW":
                    item.addChild(
                        QTreeWidgetItem(
                            [
                                f"{len(line['sizes'])} size{'' if len(line['sizes']) == 1 else 's'}",
                                "",
                                ", ".join(f"{s['size']} {s['new']}" for s in line["sizes"]),
                            ]
                        )
                    )
                    continue
                for field, diff in line["fields"].items():
                    item.addChild(QTreeWidgetItem([field, _show(diff["old"]), _show(diff["new"])]))
                for size in line["sizes"]:
                    item.addChild(
                        QTreeWidgetItem(
                            [f"Size {size['size']} ({size['kind'].lower()})", _show(size["old"]), _show(size["new"])]
                        )
                    )
            for bad in customer["invalid_lines"]:
                item = QTreeWidgetItem(
                    [f"Invalid: order {bad['order_number'] or '(no order number)'}", "", "; ".join(bad["errors"])]
                )
                item.setForeground(2, Qt.GlobalColor.darkRed)
                top.addChild(item)
            top.setExpanded(len(report) == 1)
        self.tree.resizeColumnToContents(0)
        # A "mutation" of the report is a change on the board: an item or a size created, updated or removed.
        self.summary.setText(
            f"Nothing is sent until you press Sync. {totals['new']} new, {totals['changed']} changed and "
            f"{totals['removed']} removed lines: {describe_forecast(totals['mutations'], self.pace, totals['board_reads'])}; "
            f"{totals['invalid']} invalid lines will be held back with their reasons."
        )
        self.sync_button.setEnabled(totals["new"] + totals["changed"] + totals["removed"] > 0)

    def _sync(self) -> None:
        self.syncRequested.emit(self.customers)
        self.accept()
