"""Draws OrderSync's application icon: resources/icons/ordersync-<size>.png and ordersync.ico.

    .venv/bin/python scripts/make_icons.py

The icon is drawn with Qt (no image editor, no extra package), so it can be redrawn and reviewed
in code. The .ico holds every size as a PNG-compressed entry, which Windows Vista and newer read.
The files are committed; run this only to change the icon.
"""

from __future__ import annotations

import os
import struct
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QGuiApplication, QImage, QLinearGradient, QPainter, QPainterPath, QPen

ICONS = Path(__file__).resolve().parent.parent / "resources" / "icons"
SIZES = (16, 24, 32, 48, 64, 128, 256)


def draw(size: int) -> QImage:
    """The icon at ``size`` pixels: a board of order rows with a sync arrow, on a blue tile."""
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    p = QPainter(image)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.scale(size / 256, size / 256)  # drawn on a 256-unit canvas

    tile = QLinearGradient(0, 0, 0, 256)
    tile.setColorAt(0, QColor("#2f6fe4"))
    tile.setColorAt(1, QColor("#1d3f9e"))
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(tile)
    p.drawRoundedRect(QRectF(8, 8, 240, 240), 48, 48)

    # The board: three order rows, each with a status chip.
    p.setBrush(QColor("#ffffff"))
    p.drawRoundedRect(QRectF(44, 56, 168, 144), 18, 18)
    for i, chip in enumerate(("#00c875", "#fdab3d", "#00c875")):
        y = 76 + i * 42
        p.setBrush(QColor("#c5d3f0"))
        p.drawRoundedRect(QRectF(62, y, 88, 22), 8, 8)
        p.setBrush(QColor(chip))
        p.drawRoundedRect(QRectF(160, y, 34, 22), 8, 8)

    # The sync arrow, bottom right, over the board's corner.
    p.setBrush(QColor("#ff7a1a"))
    p.drawEllipse(QPointF(192, 190), 50, 50)
    pen = QPen(QColor("#ffffff"), 13, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap)
    p.setPen(pen)
    p.setBrush(Qt.BrushStyle.NoBrush)
    arc = QRectF(166, 164, 52, 52)
    p.drawArc(arc, 30 * 16, 250 * 16)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QColor("#ffffff"))
    head = QPainterPath()
    head.moveTo(202, 166)
    head.lineTo(234, 166)
    head.lineTo(218, 190)
    head.closeSubpath()
    p.drawPath(head)
    p.end()
    return image


def png_bytes(image: QImage) -> bytes:
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    buffer.close()
    return bytes(data)


def ico_bytes(pngs: dict[int, bytes]) -> bytes:
    """An ICO file (ICONDIR, one ICONDIRENTRY per size, then the PNG data)."""
    header = struct.pack("<HHH", 0, 1, len(pngs))
    entries, blobs = b"", b""
    offset = len(header) + 16 * len(pngs)
    for size, blob in sorted(pngs.items()):
        edge = 0 if size >= 256 else size  # 0 means 256 in an ICONDIRENTRY
        entries += struct.pack("<BBBBHHII", edge, edge, 0, 0, 1, 32, len(blob), offset)
        blobs += blob
        offset += len(blob)
    return header + entries + blobs


def main() -> int:
    app = QGuiApplication.instance() or QGuiApplication(sys.argv)  # noqa: F841 (QPainter needs it)
    ICONS.mkdir(parents=True, exist_ok=True)
    pngs = {size: png_bytes(draw(size)) for size in SIZES}
    for size, blob in pngs.items():
        (ICONS / f"ordersync-{size}.png").write_bytes(blob)
    (ICONS / "ordersync.ico").write_bytes(ico_bytes(pngs))
    print(f"wrote {len(pngs)} PNGs and ordersync.ico to {ICONS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
