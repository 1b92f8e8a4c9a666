"""Where the files in ``resources/`` are: package data of the ``resources`` package, found through
``importlib.resources`` from a checkout, an installed wheel or a PyInstaller build alike."""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

COMMAND_NAMES = ("ordersync", "ordersync-gui")  # the installed entry points ([project.scripts], gui-scripts)


def resources_dir() -> Path:
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:
        return Path(frozen_root) / "resources"
    return Path(str(resources.files("resources")))


def resource_path(name: str) -> Path:
    return resources_dir() / name


def program_command(arguments: str) -> str:
    """How a user runs ``arguments`` with this program: the built executable, the installed command, or
    main.py from a checkout.

    For hints in messages ("run … db upgrade"), so they can be copied as they are.
    """
    if getattr(sys, "frozen", False):
        return f"{Path(sys.executable).name} {arguments}"
    if Path(sys.argv[0]).stem.lower() in COMMAND_NAMES:
        return f"ordersync {arguments}"
    return f"python main.py {arguments}"
