#!/usr/bin/env python3
"""Smoke-test a frozen OrderSync (the PyInstaller one-folder build) end to end.

    python3 scripts/smoke_frozen.py dist/OrderSync [--work build]

Runs the built executable in a temporary folder: --version, demo init, status, a sync of every
customer against the embedded sandbox, a second sync that must send nothing, a usage error, the
window on Qt's offscreen platform; then checks that no test tool was bundled and, when pefile and
PyInstaller are importable here (they are in .venv-build, which ``dev.py build`` runs this with),
that the Windows version resource build.spec wrote into the work folder carries core's version.
Every check prints one "ok: …" line; the first failure prints what went wrong and exits 1.
Only the standard library is needed; nothing touches the user's own settings, data or logs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP_NAME = "OrderSync"
TEST_TOOLS = ("pytest", "_pytest", "pytestqt", "hypothesis", "sqlglot", "psycopg", "psycopg_binary")
SENT = ("items_created", "items_updated", "subitems_created", "subitems_updated")


class SmokeFailure(Exception):
    pass


def core_version() -> str:
    text = (ROOT / "core" / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__\s*=\s*["\']([^"\']+)["\']', text, re.MULTILINE)
    if not match:
        raise SmokeFailure('core/__init__.py has no __version__ = "..." line')
    return match.group(1)


def ok(message: str) -> None:
    print(f"ok: {message}", flush=True)


def tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


class Result:
    def __init__(self, args: list[str], returncode: int, stdout: str, stderr: str, seconds: float):
        self.args, self.returncode, self.stdout, self.stderr, self.seconds = args, returncode, stdout, stderr, seconds

    def describe(self) -> str:
        return (
            f"`{' '.join(self.args)}` exited {self.returncode} after {self.seconds:.1f} s\n"
            f"--- stdout (last lines) ---\n{tail(self.stdout)}\n--- stderr (last lines) ---\n{tail(self.stderr)}"
        )


class Runner:
    def __init__(self, exe: Path, cwd: Path, env: dict[str, str]):
        self.exe, self.cwd, self.env = exe, cwd, env

    def __call__(self, *args: str, timeout: float, extra_env: dict[str, str] | None = None) -> Result:
        cmd = [str(self.exe), *args]
        shown = [APP_NAME, *args]
        started = time.monotonic()
        # A session of its own, so a timeout also ends what the program started (the sandbox child).
        proc = subprocess.Popen(
            cmd,
            cwd=self.cwd,
            env={**self.env, **(extra_env or {})},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
            start_new_session=os.name != "nt",
        )
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill(proc)
            stdout, stderr = proc.communicate()
            raise SmokeFailure(
                f"`{' '.join(shown)}` did not finish within {timeout:.0f} s\n"
                f"--- stdout ---\n{tail(stdout)}\n--- stderr ---\n{tail(stderr)}"
            ) from None
        return Result(shown, proc.returncode, stdout, stderr, time.monotonic() - started)


def _kill(proc: subprocess.Popen) -> None:
    if os.name == "nt":
        subprocess.run(["taskkill", "/F", "/T", "/PID", str(proc.pid)], capture_output=True)
        proc.kill()
    else:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def expect(condition: bool, message: str, result: Result | None = None) -> None:
    if not condition:
        raise SmokeFailure(message + (f"\n{result.describe()}" if result is not None else ""))


def parse_json(result: Result) -> dict:
    try:
        data = json.loads(result.stdout)
    except ValueError as exc:
        raise SmokeFailure(f"the output is not JSON ({exc})\n{result.describe()}") from None
    expect(isinstance(data, dict), "the JSON output is not an object", result)
    return data


def batches_of(result: Result) -> list[dict]:
    data = parse_json(result)
    batches = data.get("batches")
    expect(isinstance(batches, list), 'the sync JSON has no "batches" list', result)
    return batches


def check_sync_exit(result: Result, batches: list[dict]) -> None:
    """Exit 1 exactly when lines of the run's customers are held back or failed (this run or before)."""
    data = parse_json(result)
    still_open = data.get("open_errors") or {}
    held = any((b.get("invalid_count") or 0) > 0 or (b.get("failed_count") or 0) > 0 for b in batches)
    expected = 1 if (still_open or held) else 0
    expect(
        result.returncode == expected,
        f"sync should exit {expected} (open errors: {still_open}; a batch held lines back: {held})",
        result,
    )


def find_executable(bundle: Path) -> Path:
    for name in (f"{APP_NAME}.exe", APP_NAME):
        exe = bundle / name
        if exe.is_file():
            return exe
    raise SmokeFailure(f"no {APP_NAME} executable in {bundle}")


def bundle_size_mb(bundle: Path) -> float:
    return sum(p.stat().st_size for p in bundle.rglob("*") if p.is_file() and not p.is_symlink()) / 1e6


def check_no_test_tools(bundle: Path, exe: Path) -> None:
    internal = bundle / "_internal"
    expect(internal.is_dir(), f"the bundle has no _internal folder: {internal}")
    found = sorted(
        str(p.relative_to(bundle))
        for p in internal.rglob("*")
        if re.split(r"[-.]", p.name, maxsplit=1)[0] in TEST_TOOLS
    )
    expect(not found, "test tools are in the bundle: " + ", ".join(found[:20]))
    ok(f"no test tools in the bundle ({', '.join(TEST_TOOLS)})")
    # The pure-Python modules live in the PYZ archive inside the executable: list it when PyInstaller is here.
    try:
        from PyInstaller.archive.readers import CArchiveReader
    except ImportError:
        print("skipped: the modules inside the executable's archive (PyInstaller is not importable here)")
        return
    try:
        modules = []
        archive = CArchiveReader(str(exe))
        for name, entry in archive.toc.items():
            if entry[-1] == "z":  # the PYZ: every bundled pure-Python module
                modules += archive.open_embedded_archive(name).toc.keys()
    except Exception as exc:  # noqa: BLE001 - an archive layout this reader does not know: say so, do not guess
        print(f"skipped: the modules inside the executable's archive (could not read it: {exc})")
        return
    expect(bool(modules), f"found no modules in the archive of {exe}")
    bundled = sorted(m for m in modules if m.split(".")[0] in TEST_TOOLS)
    expect(not bundled, "test tools are among the bundled modules: " + ", ".join(bundled[:20]))
    ok(f"no test tools among the {len(modules)} bundled modules")


def check_version_resource(work: Path | None, version: str, exe: Path) -> None:
    try:
        import pefile  # noqa: F401  (versioninfo needs it)
        import PyInstaller.compat
    except ImportError:
        print("skipped: the Windows version resource (pefile and PyInstaller are not importable here)")
        return
    # PyInstaller.compat defines win32api only on Windows, yet versioninfo imports it unconditionally; only
    # reading and writing an executable's resources use it, loading the text does not.
    if not hasattr(PyInstaller.compat, "win32api"):
        PyInstaller.compat.win32api = None
    from PyInstaller.utils.win32 import versioninfo

    if work is None:
        print("skipped: the Windows version resource (no --work folder given)")
        return
    files = sorted(work.glob("**/version_info.txt"), key=lambda p: p.stat().st_mtime, reverse=True)  # newest first
    expect(bool(files), f"build.spec's version_info.txt is not under {work}")
    info = versioninfo.load_version_info_from_text_file(str(files[0]))
    check_version_info(info, version, str(files[0]))
    info.toRaw()  # what PyInstaller embeds into the .exe: it must serialize
    ok(f"version resource text says {version} ({files[0]})")
    if exe.suffix.lower() == ".exe" and os.name == "nt":
        check_version_info(versioninfo.read_version_info_from_executable(str(exe)), version, str(exe))
        ok(f"{exe.name}'s version resource says {version}")


def check_version_info(info, version: str, source: str) -> None:
    strings = {
        s.name: s.val
        for kid in info.kids
        if hasattr(kid, "kids")
        for table in kid.kids
        if hasattr(table, "kids")
        for s in table.kids
        if hasattr(s, "val")
    }
    for key in ("FileVersion", "ProductVersion"):
        expect(strings.get(key) == version, f"{source}: {key} is {strings.get(key)!r}, core says {version!r}")
    numbers = tuple(int(p) for p in (re.findall(r"\d+", version) + ["0"] * 4)[:4])
    ffi = info.ffi
    fixed = (ffi.fileVersionMS >> 16, ffi.fileVersionMS & 0xFFFF, ffi.fileVersionLS >> 16, ffi.fileVersionLS & 0xFFFF)
    expect(fixed == numbers, f"{source}: the fixed file version is {fixed}, core says {numbers}")


def smoke(bundle: Path, work: Path | None) -> None:
    version = core_version()
    exe = find_executable(bundle)
    with tempfile.TemporaryDirectory(prefix="ordersync-smoke-") as tmp:
        t = Path(tmp)
        env = dict(os.environ)
        env.update(
            {
                "ORDERSYNC_CONFIG": str(t / "no-such-settings.toml"),  # never the user's settings file
                "ORDERSYNC_LOG_DIR": str(t / "logs"),
                **{var: str(t) for var in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME")},
            }
        )
        env.pop("MONDAY_API_TOKEN", None)  # the demo's sandbox has its own token; a real one must not leak in
        run = Runner(exe, t, env)
        demo, settings = t / "demo", t / "demo" / "settings.toml"

        r = run("--version", timeout=60)
        expect(
            r.returncode == 0 and r.stdout.strip() == f"{APP_NAME} {version}",
            f"--version should print {APP_NAME} {version!r}",
            r,
        )
        ok(f"--version prints {APP_NAME} {version}")

        # 200 lines hold a few deliberately invalid ones: exit 1 and COMPLETED_WITH_ERRORS are exercised too.
        r = run("demo", "init", "--dir", str(demo), "--orders", "200", timeout=180)
        expect(r.returncode == 0, "demo init failed", r)
        expect(settings.is_file(), f"demo init wrote no {settings}", r)
        ok(f"demo init wrote {settings.relative_to(t)} ({r.seconds:.1f} s)")

        r = run("status", "--config", str(settings), "--json", timeout=120)
        expect(r.returncode == 0, "status failed", r)
        customers = parse_json(r).get("customers")
        expect(isinstance(customers, list) and customers, 'status --json lists no "customers"', r)
        ok(f"status --json lists {len(customers)} customers")

        r = run("sync", "--config", str(settings), "--all", "--json", timeout=300)
        batches = batches_of(r)
        check_sync_exit(r, batches)
        expect(bool(batches), "the first sync of the demo ran no batch", r)
        bad = [
            b
            for b in batches
            if b.get("status") not in ("COMPLETED", "COMPLETED_WITH_ERRORS", "NO_CHANGES") or b.get("failed_count")
        ]
        expect(not bad, f"batches that did not complete cleanly: {bad}", r)
        sent = {k: sum(b.get(k) or 0 for b in batches) for k in SENT}
        expect(sum(sent.values()) > 0, "the first sync sent nothing", r)
        ok(
            f"sync --all: {len(batches)} batches, exit {r.returncode}, "
            f"{sent['items_created']} items and {sent['subitems_created']} subitems created ({r.seconds:.1f} s)"
        )

        r = run("sync", "--config", str(settings), "--all", "--json", timeout=300)
        batches = batches_of(r)
        check_sync_exit(r, batches)
        bad = [
            b
            for b in batches
            if b.get("status") not in ("NO_CHANGES", "COMPLETED_WITH_ERRORS")
            or any(b.get(k) for k in SENT)
            or b.get("failed_count")
        ]
        expect(not bad, f"the second sync sent or changed something: {bad}", r)
        ok(f"re-sync sends nothing ({len(batches)} batches, none sent anything; {r.seconds:.1f} s)")

        r = run("sync", "--config", str(settings), timeout=60)
        expect(r.returncode == 2, "sync without --customer or --all should exit 2", r)
        expect("Traceback" not in r.stderr, "the usage error printed a traceback", r)
        ok("usage error exits 2 without a traceback")

        r = run(
            "--config", str(settings), "--quit-after", "1500", timeout=60, extra_env={"QT_QPA_PLATFORM": "offscreen"}
        )
        expect(r.returncode == 0, "the window did not open and quit cleanly", r)
        expect("Traceback" not in r.stdout + r.stderr, "the window printed a traceback", r)
        ok(f"GUI opens and quits on the offscreen platform ({r.seconds:.1f} s)")

        log_file = t / "logs" / "ordersync.log"
        expect(log_file.is_file(), f"no log file at {log_file}")
        text = log_file.read_text(encoding="utf-8", errors="replace")
        for needle in (f"OrderSync {version}: sync --config", "[batch ", "the window starts", "exit code 0"):
            expect(needle in text, f"the log file has no line with {needle!r}:\n{tail(text)}")
        expect("Traceback" not in text, f"the log file holds a traceback:\n{tail(text, 60)}")
        ok(f"log file written: the runs, their batches and the window ({len(text.splitlines())} lines)")

    check_no_test_tools(bundle, exe)
    check_version_resource(work, version, exe)
    print(f"bundle size: {bundle_size_mb(bundle):.1f} MB ({bundle})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Smoke-test a frozen OrderSync build.")
    parser.add_argument("bundle", type=Path, help="the one-folder build, e.g. dist/OrderSync")
    parser.add_argument("--work", type=Path, help="PyInstaller's work folder of that build (for the version resource)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        smoke(args.bundle.resolve(), args.work.resolve() if args.work else None)
    except SmokeFailure as exc:
        print(f"FAILED: {exc}", file=sys.stderr, flush=True)
        return 1
    print(f"smoke test passed in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
