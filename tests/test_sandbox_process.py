"""The embedded sandbox as a child process: started by module name, never imported by core, gone with
its parent, and a child that never answers is an error within a bound, not a hang."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import requests

from core.engine.sandbox_process import SandboxProcess, _first_line, sandbox_command
from core.foundation.exceptions import OrderSyncError

ROOT = Path(__file__).resolve().parent.parent


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process took the pid
        return True
    return True


def test_the_child_is_started_by_module_and_answers_over_http(tmp_path):
    assert sandbox_command(["--port", "0"])[1:3] == ["-m", "sandbox"]
    sandbox = SandboxProcess(tmp_path / "sandbox.db", time_scale=60.0)
    try:
        health = requests.get(f"{sandbox.base_url}/sandbox/health", timeout=5)
        assert health.status_code == 200 and health.json()["status"] == "ok"
        board = sandbox.create_board("B", [{"title": "Status", "type": "status"}], [], board_id="77")
        assert board == "77"
    finally:
        sandbox.stop()
    assert sandbox.process.poll() is not None


@pytest.mark.skipif(os.name == "nt", reason="SIGKILL of the parent is POSIX; Windows closes the pipe the same way")
def test_the_child_exits_when_its_parent_is_killed(tmp_path):
    parent = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from pathlib import Path
        from core.engine.sandbox_process import SandboxProcess
        sandbox = SandboxProcess(Path({str(tmp_path / "sandbox.db")!r}), time_scale=60.0)
        print(sandbox.process.pid, flush=True)
        time.sleep(600)
    """)
    proc = subprocess.Popen([sys.executable, "-c", parent], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        child = int(_first_line(proc.stdout, 60.0))
        assert _alive(child)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        deadline = time.monotonic() + 30
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(child), "the sandbox outlived its killed parent"
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()


def test_a_first_line_that_never_comes_is_bounded():
    read_end, write_end = os.pipe()
    stream = os.fdopen(read_end, "r")
    started = time.monotonic()
    assert _first_line(stream, 0.3) == ""
    assert time.monotonic() - started < 10  # it returned; the bound is what is tested, loosely
    os.close(write_end)  # the reader thread sees the end and lets go of the stream
    time.sleep(0.2)
    stream.close()


def test_a_child_that_does_not_start_is_a_readable_error(tmp_path):
    # A fault spec the sandbox refuses: the child exits (code 2) before printing its URL.
    with pytest.raises(OrderSyncError, match="did not start"):
        SandboxProcess(tmp_path / "sandbox.db", time_scale=60.0, faults="no-such-fault=2", start_timeout=30.0)
    assert "no-such-fault" in (tmp_path / "sandbox.log").read_text()


def test_a_state_folder_that_cannot_exist_is_a_readable_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OrderSyncError, match="cannot keep its log"):
        SandboxProcess(blocker / "sandbox.db", time_scale=60.0)
