"""Where the files in ``resources/`` are, from the source tree and from a PyInstaller build."""

from __future__ import annotations

import sys
from pathlib import Path


def resources_dir() -> Path:
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:
        return Path(frozen_root) / "resources"
    return Path(__file__).resolve().parent.parent / "resources"


def resource_path(name: str) -> Path:
    return resources_dir() / name


def program_command(arguments: str) -> str:
    """How a user runs ``arguments`` with this program: the built executable, or main.py from a checkout.

    For hints in messages ("run … db upgrade"), so they can be copied as they are.
    """
    if getattr(sys, "frozen", False):
        return f"{Path(sys.executable).name} {arguments}"
    return f"python main.py {arguments}"
