"""The house stays readable: no module over about 400 lines without a reason at its top, and the map
in core/README.md names every room of core/."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIMIT = 420  # "about 400": a formatter's line breaks do not count against a module
REASON = re.compile(r"\b(?:about|over|longer than|more than|somewhat over)\s+\d{3} lines\b", re.IGNORECASE)


def _modules() -> list[Path]:
    return sorted(
        p
        for top in ("core", "gui", "sandbox")
        for p in (ROOT / top).rglob("*.py")
        if "migrations" not in p.parts and "__pycache__" not in p.parts
    )


def test_every_long_module_says_why_at_its_top():
    unexplained = []
    for path in _modules():
        source = path.read_text(encoding="utf-8")
        lines = source.count("\n")
        if lines > LIMIT:
            doc = ast.get_docstring(ast.parse(source)) or ""
            if not REASON.search(doc):
                unexplained.append(f"{path.relative_to(ROOT).as_posix()} ({lines} lines)")
    assert not unexplained, "modules over about 400 lines without a reason at their top: " + ", ".join(unexplained)


def test_control_the_reason_pattern():
    assert REASON.search("Longer than 400 lines: it is data.")
    assert REASON.search("One module of about 430 lines on purpose")
    assert not REASON.search("A module that reads the source.")


def test_the_map_names_every_room_of_core():
    readme = (ROOT / "core" / "README.md").read_text(encoding="utf-8")
    rooms = sorted(p.name for p in (ROOT / "core").iterdir() if (p / "__init__.py").exists())
    assert rooms and all(f"{room}/" in readme for room in rooms), rooms
