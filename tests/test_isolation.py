"""Tests keep to themselves: no test reads or writes the user's own settings, layout, logs or keyring.

tests/conftest.py points every user folder at a temporary one (``user_folders``). These tests check
that it holds where it matters: every location OrderSync resolves lies under the test's folder, in
this process and in a process the test starts; and writing through the real code paths (the log
file, the window's QSettings, a real ``main.py`` run) lands there and nowhere in the user's real
folders, which were resolved from the environment the run was started in.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.conftest import REAL_USER_LOCATIONS
from tests.helpers import user_locations

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import json, sys
sys.path.insert(0, sys.argv[1])
from tests.helpers import user_locations
print(json.dumps({name: str(path) for name, path in user_locations().items()}))
"""


def _under(path: Path, folder: Path) -> bool:
    return Path(os.path.abspath(path)).is_relative_to(os.path.abspath(folder))


def _outside_the_tests(locations: dict[str, Path], user_folders: Path, log_folder: Path) -> dict[str, Path]:
    return {
        name: path
        for name, path in locations.items()
        if not _under(path, log_folder if name == "log folder" else user_folders)
    }


def test_every_user_location_is_the_tests_own(user_folders, log_folder, user_folders_of_the_session):
    here = user_locations()
    assert set(REAL_USER_LOCATIONS) <= set(here)
    assert _outside_the_tests(here, user_folders, log_folder) == {}
    for name, real in REAL_USER_LOCATIONS.items():  # resolved before any redirection: the user's own
        assert not _under(real, user_folders) and not _under(real, user_folders_of_the_session), (name, real)


@pytest.fixture(scope="module")
def locations_of_a_module_fixture() -> dict[str, Path]:
    """What a module-scoped fixture sees (they run before any test's own fixtures)."""
    return user_locations()


def test_module_and_session_fixtures_meet_the_sessions_folders(
    locations_of_a_module_fixture, user_folders_of_the_session
):
    outside = {
        name: path
        for name, path in locations_of_a_module_fixture.items()
        if not _under(path, user_folders_of_the_session)
    }
    assert outside == {}


def test_a_process_a_test_starts_inherits_them(user_folders, log_folder):
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(ROOT)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
    )
    assert child.returncode == 0, child.stderr
    there = {name: Path(path) for name, path in json.loads(child.stdout).items()}
    assert there == user_locations()
    assert _outside_the_tests(there, user_folders, log_folder) == {}


def test_no_os_keyring_is_reachable():
    import keyring

    from core.foundation import token

    assert not token.keyring_available(), keyring.get_keyring()
    assert os.environ["PYTHON_KEYRING_BACKEND"] == "keyring.backends.fail.Keyring"  # and so for every child


def _contains(path: Path, marker: str) -> bool:
    try:
        return path.is_file() and marker in path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False


def _files(location: Path) -> list[Path]:
    if location.is_dir():
        return [f for f in location.rglob("*") if f.is_file()]
    return [location]


def test_writing_through_the_real_code_paths_leaves_the_real_folders_alone(tmp_path, user_folders, log_folder):
    from PySide6.QtCore import QSettings

    from core.foundation.logs import log_file, remove_handlers, setup_logging

    marker = f"isolation-{uuid.uuid4().hex}"
    # This process: a log line, and a value in the window's QSettings (as gui/main_window.py saves its layout).
    setup_logging(console_level=None)
    logging.getLogger("ordersync").warning("test marker %s", marker)
    remove_handlers()
    layout = QSettings("OrderSync", "OrderSync")
    layout.setValue("isolation/parent", marker)
    layout.sync()
    # A child: a real command-line run (it logs its command line), and the window's QSettings.
    run = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "status", "--config", str(tmp_path / f"{marker}.toml")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=120,
    )
    assert run.returncode == 2 and "settings file not found" in run.stderr, run.stderr
    child_layout = (
        f"from PySide6.QtCore import QSettings; s = QSettings('OrderSync', 'OrderSync'); "
        f"s.setValue('isolation/child', '{marker}'); s.sync()"
    )
    assert subprocess.run([sys.executable, "-c", child_layout], capture_output=True, timeout=120).returncode == 0
    try:
        # Nothing landed in the user's real folders …
        touched = [
            str(f) for location in REAL_USER_LOCATIONS.values() for f in _files(location) if _contains(f, marker)
        ]
        assert touched == [], f"a test wrote into the user's real folders: {touched}"
        # … and everything where this test's own folders are.
        logged = log_file().read_text(encoding="utf-8")
        assert f"test marker {marker}" in logged  # this process's line, and the child's command line
        assert any("status --config" in line and marker in line for line in logged.splitlines())
        assert Path(layout.fileName()).read_text(encoding="utf-8").count(marker) == 2
        assert _under(log_file(), log_folder) and _under(Path(layout.fileName()), user_folders)
    finally:
        layout.remove("isolation")
        layout.sync()
        real = REAL_USER_LOCATIONS["window layout"]
        if _contains(real, marker):  # the guard failed: take the markers out of the user's real layout file
            leaked = QSettings(str(real), QSettings.Format.IniFormat)
            leaked.remove("isolation")
            leaked.sync()
