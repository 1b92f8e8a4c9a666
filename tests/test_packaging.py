"""OrderSync installs as a package: ``pip install .`` gives a working ``ordersync`` command, with its
resources, migrations and the sandbox's schema as package data, run from outside the checkout.

The wheel is built from a copy of the project's sources (so the checkout gets no build folders) with
the setuptools of this environment, and installed without dependencies into a fresh virtual environment
that borrows this environment's third-party packages through a .pth file: what is tested is our
package (its list, its data, its entry points), not the network.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import venv
from pathlib import Path

import pytest

from core import __version__

ROOT = Path(__file__).resolve().parent.parent
PACKAGED = ("core", "gui", "sandbox", "resources")

pytestmark = pytest.mark.slow


def _declared_packages() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return list(config["tool"]["setuptools"]["packages"])


def test_the_package_list_is_every_package_folder():
    found = sorted(
        ".".join(p.parent.relative_to(ROOT).parts)
        for top in PACKAGED
        for p in (ROOT / top).rglob("__init__.py")
        if "__pycache__" not in p.parts
    )
    assert sorted(_declared_packages()) == found


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh virtual environment with the built wheel installed; its bin (Scripts) folder."""
    work = tmp_path_factory.mktemp("packaging")
    src = work / "src"
    src.mkdir()
    for name in PACKAGED:
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    wheels = work / "wheels"
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--disable-pip-version-check",
            "-q",
            "-w",
            str(wheels),
            str(src),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert build.returncode == 0, build.stderr
    wheel = next(wheels.glob("ordersync-*.whl"))
    env_dir = work / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # The third-party packages of this environment, after the new environment's own site-packages.
    Path(purelib, "borrowed.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--no-deps",
            "--disable-pip-version-check",
            "-q",
            str(wheel),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert install.returncode == 0, install.stderr
    return python.parent


def _run(bin_dir: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "ORDERSYNC_CONFIG")}
    command = bin_dir / ("ordersync.exe" if os.name == "nt" else "ordersync")
    return subprocess.run([str(command), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_the_installed_command_runs_from_outside_the_checkout(installed, tmp_path):
    version = _run(installed, "--version", cwd=tmp_path)
    assert version.returncode == 0, version.stderr
    assert __version__ in version.stdout
    assert (installed / ("ordersync-gui.exe" if os.name == "nt" else "ordersync-gui")).exists()
    # The package that ran is the installed one, not this checkout.
    probe = "import core, sandbox, resources; print(core.__file__); print(sandbox.__file__)"
    where = subprocess.run(
        [str(installed / "python"), "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout
    assert str(ROOT) not in where and "site-packages" in where


def test_demo_init_and_a_sync_work_from_the_installed_package(installed, tmp_path):
    # demo init needs the demo's settings (resources), the migrations (core.db package data) and the
    # sandbox child with its schema (sandbox package data), all from the installed wheel.
    init = _run(installed, "demo", "init", "--dir", str(tmp_path / "demo"), "--orders", "20", cwd=tmp_path)
    assert init.returncode == 0, init.stderr
    settings = tmp_path / "demo" / "settings.toml"
    status = _run(installed, "status", "--config", str(settings), cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    sync = _run(installed, "sync", "--config", str(settings), "--all", cwd=tmp_path)
    assert sync.returncode in (0, 1), sync.stderr  # 1: the demo plants invalid lines on purpose
    assert "Traceback" not in sync.stderr
    upgrade_hint = _run(installed, "db", "upgrade", "--config", str(tmp_path / "missing.toml"), cwd=tmp_path)
    assert upgrade_hint.returncode == 2 and "Traceback" not in upgrade_hint.stderr
