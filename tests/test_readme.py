"""The README tells the truth: its shell commands run as written, its settings and commands exist.

Every ```sh block runs line by line with bash, in a fresh folder that holds `.venv` (this test run's
environment) and `main.py`, as a reader's checkout would; a line ending in ``# exit N`` must exit
N, every other line 0, and none may print a traceback. A block the test cannot run here (it opens
a window, needs Windows, or is the test suite itself) is preceded by
``<!-- readme-test: skip: why -->``, and must say why.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from core.cli import COMMANDS
from core.foundation.config import SETTINGS, parse_settings

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCK = re.compile(
    r"(?:<!-- readme-test: skip:(?P<why>[^>]*)-->\n)?```(?P<lang>[\w-]*)\n(?P<body>.*?)^```", re.DOTALL | re.MULTILINE
)
EXPECTED_EXIT = re.compile(r"#\s*exit (\d+)\b")


def blocks() -> list[dict]:
    return [m.groupdict() for m in BLOCK.finditer(README)]


def commands(body: str) -> list[str]:
    """The block's commands: continuation lines joined, blank and comment-only lines dropped."""
    joined = body.replace("\\\n", " ")
    return [line for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_every_skipped_block_says_why():
    skipped = [b for b in blocks() if b["why"] is not None]
    assert skipped and all(len(b["why"].strip()) > 10 for b in skipped), [b["why"] for b in skipped]
    assert all(b["lang"] in ("sh", "bat", "cron") for b in skipped)


@pytest.mark.slow
@pytest.mark.skipif(os.name == "nt", reason="the README's shell commands are POSIX shell")
def test_the_readme_shell_commands_run_as_written(tmp_path, log_folder):
    runnable = [b for b in blocks() if b["lang"] == "sh" and b["why"] is None]
    lines = [line for b in runnable for line in commands(b["body"])]
    assert any("sync" in line for line in lines) and any("--dry-run" in line for line in lines)
    workdir = tmp_path / "checkout"
    workdir.mkdir()
    (workdir / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    (workdir / "main.py").symlink_to(ROOT / "main.py")
    home = tmp_path / "home"
    env = {
        **os.environ,
        "HOME": str(home),
        "ORDERSYNC_CONFIG": str(home / "no-settings.toml"),
        **{f"XDG_{kind}_HOME": str(home / kind.lower()) for kind in ("CONFIG", "DATA", "STATE", "CACHE")},
    }
    env.pop("MONDAY_API_TOKEN", None)
    for line in lines:
        wanted = EXPECTED_EXIT.search(line)
        result = subprocess.run(["bash", "-c", line], cwd=workdir, env=env, capture_output=True, text=True, timeout=600)
        assert result.returncode == (int(wanted.group(1)) if wanted else 0), (
            line,
            result.stdout[-2000:],
            result.stderr[-2000:],
        )
        assert "Traceback" not in result.stderr, (line, result.stderr)


def test_the_settings_example_is_a_valid_settings_file():
    examples = [b["body"] for b in blocks() if b["lang"] == "toml" and "[database]" in b["body"]]
    assert examples
    for body in examples:
        parse_settings(tomllib.loads(body))  # an unknown key or a wrong type raises, naming it


def test_every_command_is_in_the_command_table():
    table = README[README.index("| command | does |") :]
    for command in COMMANDS:
        assert f"| `{command} " in table or f"| `{command}`" in table, command


def test_dev_py_commands_the_readme_names_exist():
    from dev import LOCKS

    named = set(re.findall(r"dev\.py (\w+)", README))
    assert {"demo", "test", "build"} <= named <= set(LOCKS)


def test_the_wait_for_monday_the_readme_states_is_the_programs():
    from core.monday.client import MAX_ATTEMPTS, longest_retry_wait
    from core.push.stream import MAX_UNKNOWN_RESENDS, longest_resend_wait, unreachable_wait_bound

    section = README[README.index("**When monday cannot be reached**") :]
    section = " ".join(section[: section.index("\n\n### ")].split())
    assert f"({MAX_ATTEMPTS} tries by default)" in section
    assert f"at most {longest_retry_wait(MAX_ATTEMPTS):g} s in all" in section
    assert f"at most {MAX_UNKNOWN_RESENDS} times" in section
    assert f"at most {longest_resend_wait():g} s in all" in section
    assert f"no more than {unreachable_wait_bound(MAX_ATTEMPTS):g} s in all" in section
    assert f"max_attempts = {MAX_ATTEMPTS} " in README  # the settings example …
    assert next(s.default for s in SETTINGS if s.name == "monday.max_attempts") == MAX_ATTEMPTS  # … is the default


def test_every_screenshot_the_readme_links_exists_and_every_screenshot_is_linked():
    linked = set(re.findall(r"docs/screenshots/([\w-]+\.png)", README))
    present = {path.name for path in (ROOT / "docs" / "screenshots").glob("*.png")}
    assert linked and linked == present, (linked - present, present - linked)
