"""A windowed program starts with no standard streams: it must still run, exit right and log.

The Windows build is windowed, so a scheduled `OrderSync.exe sync --all` with no console sees
``sys.stdout`` and ``sys.stderr`` as None, as Python does for any process whose standard file
descriptors are closed. Here the process is started with descriptors 1 and 2 closed, which gives
Python exactly that state on any OS: whatever it prints goes nowhere, so the exit code and the log
file are all a scheduler and its operator get, and both must be right. (Attaching to the caller's
console, ``core.foundation.console``, is Windows-only and is exercised by the Windows build.)
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_without_streams(*args: str) -> int:
    def close_streams() -> None:
        os.close(1)
        os.close(2)

    return subprocess.run(
        [sys.executable, str(ROOT / "main.py"), *args],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        preexec_fn=close_streams,
        timeout=120,
    ).returncode


@pytest.mark.skipif(os.name == "nt", reason="closes POSIX file descriptors before exec")
def test_a_sub_command_without_streams_exits_with_its_code_and_logs(tmp_path, log_folder):
    code = run_without_streams("status", "--config", str(tmp_path / "missing.toml"))
    assert code == 2  # a settings error, not a crash writing to a stream that is not there
    text = (log_folder / "ordersync.log").read_text(encoding="utf-8")
    assert "settings file not found" in text and text.rstrip().endswith("exit code 2")


@pytest.mark.skipif(os.name == "nt", reason="closes POSIX file descriptors before exec")
def test_demo_init_and_help_without_streams(tmp_path, log_folder):
    assert run_without_streams("--help") == 0
    assert run_without_streams("demo", "init", "--dir", str(tmp_path / "demo"), "--orders", "5") == 0
    assert (tmp_path / "demo" / "settings.toml").is_file()
