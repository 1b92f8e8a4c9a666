#!/usr/bin/env python3
"""Set up OrderSync's virtual environment from the lock files and run it.

    python3 dev.py demo     installs the runtime dependencies, then opens the demo
    python3 dev.py test     installs the test dependencies, then runs the whole test suite

Extra arguments after the command go to the program (``demo``) or to pytest (``test``).
Only the standard library is used here, so this works on any Python 3.11+.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("ORDERSYNC_VENV", ROOT / ".venv"))
LOCKS = {"demo": ["requirements.lock"], "test": ["requirements-dev.lock"]}


def _venv_python() -> Path:
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _ensure_venv() -> Path:
    python = _venv_python()
    if not python.exists():
        if sys.version_info < (3, 11):
            sys.exit(f"OrderSync needs Python 3.11 or newer; this is {sys.version.split()[0]}.")
        print(f"Creating the virtual environment in {VENV} …", flush=True)
        try:
            venv.EnvBuilder(with_pip=True).create(VENV)
        except (subprocess.CalledProcessError, OSError) as exc:
            sys.exit(
                f"Could not create a virtual environment ({exc}).\n"
                "On Debian or Ubuntu install it first: sudo apt-get install python3-venv"
            )
    return python


def _install(python: Path, locks: list[str]) -> None:
    """Install the pinned, hash-checked dependencies unless the same lock is installed already."""
    digest = hashlib.sha256(b"".join((ROOT / lock).read_bytes() for lock in locks)).hexdigest()
    stamp = VENV / f".installed-{'-'.join(Path(lock).stem for lock in locks)}"
    if stamp.exists() and stamp.read_text() == digest:
        return
    print("Installing the pinned dependencies …", flush=True)
    cmd = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q", "--require-hashes"]
    for lock in locks:
        cmd += ["-r", str(ROOT / lock)]
    subprocess.run(cmd, check=True)
    stamp.write_text(digest)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in LOCKS:
        print(__doc__.strip())
        return 2
    command, rest = argv[0], argv[1:]
    python = _ensure_venv()
    _install(python, LOCKS[command])
    if command == "demo":
        cmd = [str(python), str(ROOT / "main.py"), "--demo", *rest]
    else:
        cmd = [str(python), "-m", "pytest", *rest]
    return subprocess.run(cmd, cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
