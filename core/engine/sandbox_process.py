"""The embedded sandbox (the demo's monday) as a child process, started by module name.

core never imports the ``sandbox`` package: it runs ``python -m sandbox`` (or ``OrderSync.exe sandbox``
from the built executable), reads the URL the child prints on its first line, and talks to it over
HTTP like any monday. The child's work and garbage stay out of this process, whose GIL the window's GUI
thread needs. The child is started with ``--exit-with-stdin``: it stops when its standard input closes,
which the operating system does when this process dies in any way, so a crashed window leaves no
orphan holding the sandbox's state file.
"""

from __future__ import annotations

import logging
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from core.foundation.exceptions import OrderSyncError

log = logging.getLogger(__name__)

START_TIMEOUT = 60.0  # seconds to wait for the child's first line (a cold start of the frozen program is slow)


def _child_env() -> dict[str, str]:
    """This environment, with the folder that holds ``core`` (and ``sandbox`` beside it: a checkout or
    site-packages) first on the child's path, whatever its working folder is."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join([root, *filter(None, [env.get("PYTHONPATH")])])
    return env


def sandbox_command(args: list[str]) -> list[str]:
    """How to run ``sandbox <args>``: the built executable runs its own sub-command, Python the module."""
    if getattr(sys, "frozen", False):
        return [sys.executable, "sandbox", *args]
    return [sys.executable, "-m", "sandbox", *args]


def _first_line(stream: Any, timeout: float) -> str:
    """The first line of ``stream``, or "" when none comes within ``timeout`` seconds (or at EOF)."""
    lines: queue.Queue[str] = queue.Queue(maxsize=1)

    def read() -> None:
        try:
            lines.put(stream.readline())
        except (OSError, ValueError):  # the pipe was closed under us: no line
            lines.put("")

    threading.Thread(target=read, name="sandbox-first-line", daemon=True).start()
    try:
        return lines.get(timeout=timeout)
    except queue.Empty:
        return ""


class SandboxProcess:
    """``sandbox --state <state>`` in a child process, until ``stop()`` or this process ends."""

    token = "sandbox-token"

    def __init__(
        self,
        state: Path,
        *,
        time_scale: float,
        latency: float = 0.0,
        faults: str = "",
        start_timeout: float = START_TIMEOUT,
    ):
        args = [
            "--port",
            "0",
            "--state",
            str(state),
            "--time-scale",
            repr(time_scale),
            "--latency",
            repr(latency),
            "--token",
            self.token,
            "--exit-with-stdin",
        ]
        if faults:
            args += ["--faults", faults]
        self.log_path = state.with_suffix(".log")
        try:
            log_file = self.log_path.open("ab")
        except OSError as exc:
            raise OrderSyncError(
                f"the embedded sandbox cannot keep its log at {self.log_path}: {exc.strerror or exc}"
            ) from None
        with log_file:
            self.process = subprocess.Popen(
                sandbox_command(args),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log_file,
                text=True,
                env=_child_env(),
            )
        self.url = _first_line(self.process.stdout, start_timeout).strip()
        if not self.url.startswith("http"):
            self.stop()
            raise OrderSyncError(f"the embedded sandbox did not start; see {self.log_path}")
        log.info("embedded sandbox at %s (pid %s)", self.url, self.process.pid)

    @property
    def base_url(self) -> str:
        return self.url.rsplit("/v2", 1)[0]

    def _control(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        import requests

        answer = requests.post(f"{self.base_url}{path}", timeout=30, json=payload)
        if answer.status_code != 200:
            raise OrderSyncError(f"the sandbox refused {path}: {answer.text}")
        result: dict[str, Any] = answer.json()
        return result

    def create_board(
        self,
        name: str,
        columns: list[dict[str, Any]],
        subitem_columns: list[dict[str, Any]],
        board_id: str | None = None,
    ) -> str:
        """A new board (and its subitems board) on the sandbox; its id."""
        data = self._control(
            "/sandbox/boards",
            {"name": name, "columns": columns, "subitem_columns": subitem_columns, "board_id": board_id},
        )
        return str(data["id"])

    def set_label(self, board_id: str, column: str, label: str, present: bool) -> None:
        """Add or delete a status label on the sandbox board, as its owner would (demo and screenshots)."""
        self._control(f"/sandbox/boards/{board_id}/labels", {"column": column, "label": label, "present": present})

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        for stream in (self.process.stdin, self.process.stdout):
            if stream:
                try:
                    stream.close()
                except OSError:  # the child is gone: its pipe may be broken
                    pass
