"""The frozen program: `python3 dev.py build` builds it with the pinned PyInstaller and smoke-tests it.

This is the one test that sees what planners get: the PyInstaller bundle, not the source tree.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# One line per check of scripts/smoke_frozen.py that must pass (each starts with "ok: ").
SMOKE_OK = {
    "version": "ok: --version prints OrderSync ",
    "demo init": "ok: demo init wrote ",
    "sync": "ok: sync --all: ",
    "re-sync sends nothing": "ok: re-sync sends nothing",
    "usage error": "ok: usage error exits 2 without a traceback",
    "GUI": "ok: GUI opens and quits on the offscreen platform",
    "no test tools in the bundle": "ok: no test tools in the bundle",
    "log file": "ok: log file written",
    "version resource": "ok: version resource text says ",
}


def _plain_python() -> str:
    """The interpreter dev.py is meant for: the base Python, not this test virtual environment's."""
    base = getattr(sys, "_base_executable", None)
    if base and Path(base).is_file() and Path(base).resolve() != Path(sys.executable).resolve():
        return base
    return shutil.which("python3") or shutil.which("python") or sys.executable


@pytest.mark.slow
def test_build_and_smoke_test_the_frozen_program(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONHOME", "PYTHONPATH")}
    cmd = [
        _plain_python(),
        str(ROOT / "dev.py"),
        "build",
        "--dist",
        str(tmp_path / "dist"),
        "--work",
        str(tmp_path / "work"),
    ]
    try:
        proc = subprocess.run(
            cmd,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            timeout=1200,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"`{' '.join(cmd)}` did not finish within {exc.timeout:.0f} s", pytrace=False)
    output = proc.stdout + proc.stderr
    tail = "\n".join(output.splitlines()[-60:])
    assert proc.returncode == 0, f"dev.py build exited {proc.returncode}:\n{tail}"
    lines = proc.stdout.splitlines()
    missing = [check for check, prefix in SMOKE_OK.items() if not any(line.startswith(prefix) for line in lines)]
    assert not missing, f"the smoke test did not report ok for: {', '.join(missing)}\n{tail}"
    assert (tmp_path / "dist" / "OrderSync").is_dir()
