"""core/ is the engine: nothing under it imports the GUI (PySide6, shiboken6, qasync, gui).

Two ways, so that neither a missed import form nor an indirect import slips through:

* statically: every .py file under core/ (the Alembic environment and migrations included) is parsed
  with ``ast``; any ``import``/``from … import`` of a GUI package (absolute, or relative and resolving
  to one) and any ``importlib.import_module`` / ``__import__`` of one by a literal name fails, naming
  file:line;
* dynamically: a fresh interpreter imports every module of the ``core`` package (``pkgutil``), runs
  the migrations offline (which executes ``env.py`` and every version script), and then none of the
  GUI packages may be in ``sys.modules``: this also catches a GUI import made by a third-party module
  that core imports.

Controls show that both checks do detect a GUI import.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "core"
# The window and its toolkit, and the monday stand-in with its GraphQL library: the engine needs none of them.
FORBIDDEN = ("PySide6", "shiboken6", "qasync", "gui", "sandbox", "graphql")


# --- static --------------------------------------------------------------------------------------


def _module_parts(path: Path, root: Path) -> list[str]:
    """``core/db/engine.py`` -> ["core", "db", "engine"]; a package's __init__ is the package."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    return parts[:-1] if parts[-1] == "__init__" else parts


def _is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def gui_imports(source: str, module: list[str], is_package: bool = False) -> list[tuple[int, str]]:
    """(line, what) for every import of a forbidden package in ``source`` (the module ``module``)."""
    found: list[tuple[int, str]] = []

    def forbidden(name: str) -> bool:
        return name.split(".")[0] in FORBIDDEN

    package = module if is_package else module[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, f"import {a.name}") for a in node.names if forbidden(a.name)]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                targets = [node.module or ""]
            else:  # relative: resolve against this module's package
                base = package[: len(package) - (node.level - 1)] if node.level - 1 <= len(package) else []
                if node.module:
                    targets = [".".join([*base, node.module])]
                else:
                    targets = [".".join([*base, a.name]) for a in node.names]
            dots = "." * node.level
            found += [
                (node.lineno, f"from {dots}{node.module or ''} import {', '.join(a.name for a in node.names)}")
                for t in targets
                if t and forbidden(t)
            ][:1]
        elif (
            isinstance(node, ast.Call)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            if name in ("import_module", "__import__") and forbidden(node.args[0].value):
                found.append((node.lineno, f"{name}({node.args[0].value!r})"))
    return found


def core_files() -> list[Path]:
    return sorted(CORE.rglob("*.py"))


def test_nothing_under_core_imports_the_gui_statically():
    files = core_files()
    # Every file, the Alembic environment and the migrations too.
    assert len(files) >= 15 and CORE / "cli.py" in files and CORE / "db" / "migrations" / "env.py" in files
    offending = []
    for path in files:
        source = path.read_text(encoding="utf-8")
        for line, what in gui_imports(source, _module_parts(path, ROOT), _is_package(path)):
            offending.append(f"{path.relative_to(ROOT).as_posix()}:{line}: {what}")
    assert not offending, "core/ must not import the GUI, the sandbox or graphql-core:\n" + "\n".join(offending)


BAD = {
    "import PySide6": "import PySide6",
    "import PySide6.QtWidgets as w": "import PySide6.QtWidgets",
    "from PySide6.QtCore import QObject, Signal": "from PySide6.QtCore import QObject, Signal",
    "from PySide6 import QtCore": "from PySide6 import QtCore",
    "import shiboken6": "import shiboken6",
    "import qasync": "import qasync",
    "from qasync import QEventLoop": "from qasync import QEventLoop",
    "import gui": "import gui",
    "import gui.x": "import gui.x",
    "import os, gui.main_window": "import gui.main_window",
    "from gui import app": "from gui import app",
    "from gui.widgets.table import Table": "from gui.widgets.table import Table",
    "def f():\n    from gui.x import y\n    return y": "from gui.x import y",
    "if TYPE_CHECKING:\n    from gui.x import Window": "from gui.x import Window",
    "try:\n    import qasync\nexcept ImportError:\n    qasync = None": "import qasync",
    "import importlib\nimportlib.import_module('PySide6.QtWidgets')": "import_module('PySide6.QtWidgets')",
    "m = __import__('gui')": "__import__('gui')",
    "import sandbox": "import sandbox",
    "from sandbox.server import SandboxServer": "from sandbox.server import SandboxServer",
    "from graphql import parse": "from graphql import parse",
    "importlib.import_module('sandbox.cli')": "import_module('sandbox.cli')",
}


@pytest.mark.parametrize("source", BAD, ids=lambda src: src.replace("\n", " ; ")[:50])
def test_control_the_static_check_flags_a_gui_import(source):
    found = gui_imports(source, ["core", "db", "engine"])
    assert [what for _, what in found] == [BAD[source]], found


def test_control_relative_imports_are_resolved_not_matched_on_their_text():
    # A relative import cannot leave the top-level package ``core``, so it never names a GUI package:
    # ``from .gui import x`` in core/db/engine.py is core.db.gui. The resolution follows Python's rules.
    assert gui_imports("from .gui import x", ["core", "db", "engine"]) == []
    assert gui_imports("from . import gui", ["core", "context"]) == []
    assert gui_imports("from .. import schema", ["core", "db", "engine"]) == []
    # Beyond the top level (an ImportError at run time) it is treated as absolute: flagged.
    assert gui_imports("from .. import gui", ["core", "cli"]) == [(1, "from .. import gui")]


def test_control_the_static_check_ignores_what_is_not_a_gui_import():
    fine = (
        "import os\nimport guidance\nfrom guiding import x\nimport sqlalchemy as sa\n"
        "from core.db import schema\nfrom . import gui_text\nx = 'import PySide6'\n"
        "# from gui import window\nimportlib.import_module(name)\nimport_module('core.cli')\n"
    )
    assert gui_imports(fine, ["core", "cli"]) == []


# --- dynamic -------------------------------------------------------------------------------------

_PROBE = textwrap.dedent(
    """
    import importlib, json, pkgutil, sys
    sys.path.insert(0, {root!r})
    for name in {extra!r}:
        importlib.import_module(name)
    import core
    imported = []
    for info in pkgutil.walk_packages(core.__path__, "core."):
        importlib.import_module(info.name)
        imported.append(info.name)
    # env.py and the version scripts are not a package: run them the way OrderSync does offline, for
    # the SQL Server script a DBA runs (SQLite's table rebuilds need a live database to reflect).
    from core.db.migrate import upgrade_sql
    script = upgrade_sql("mssql")
    gui = sorted(m for m in sys.modules if m.split(".")[0] in {forbidden!r})
    print(json.dumps({{"imported": imported, "script": len(script), "gui": gui}}))
    """
)


def probe(extra: tuple[str, ...] = ()) -> dict:
    code = _PROBE.format(root=str(ROOT), extra=list(extra), forbidden=list(FORBIDDEN))
    # -I: no PYTHONPATH, no user site, no current directory on sys.path; only the venv and ROOT.
    done = subprocess.run([sys.executable, "-I", "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_importing_all_of_core_loads_no_gui_module():
    result = probe()
    expected = {".".join(_module_parts(p, ROOT)) for p in core_files() if "migrations" not in p.parts}
    assert expected <= set(result["imported"]) | {"core"}, expected - set(result["imported"])
    assert result["script"] > 1000  # the migrations really ran (offline)
    assert result["gui"] == [], f"importing core loaded GUI modules: {result['gui']}"


def test_control_the_dynamic_check_sees_a_gui_module():
    result = probe(extra=("PySide6",))
    assert "PySide6" in result["gui"]


def test_control_the_dynamic_check_sees_the_sandbox_and_graphql():
    result = probe(extra=("sandbox",))
    assert "sandbox" in result["gui"] and "graphql" in result["gui"]
