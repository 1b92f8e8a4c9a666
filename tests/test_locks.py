"""The three lock files come from one resolution: the runtime lock, and the dev and build locks
constrained by it (README, "Dependencies are pinned …"). So a package pinned in more than one lock has
the same version and the same hashes in each, every lock that installs the app pins every runtime
dependency of pyproject.toml (and the extras it is made for) at a version the specifier allows, and
every pin carries hashes (dev.py installs with --require-hashes).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
RUNTIME, DEV, BUILD = "requirements.lock", "requirements-dev.lock", "requirements-build.lock"
# Which extras of pyproject.toml each lock installs on top of the runtime dependencies.
EXTRAS = {RUNTIME: [], DEV: ["test", "lint"], BUILD: ["build"]}

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*(?:;\s*([^\\]*?))?\s*\\?\s*$")
_HASH = re.compile(r"--hash=(\S+)")


@dataclass
class Pin:
    version: str
    marker: str
    hashes: set[str] = field(default_factory=set)


def parse_lock(text: str) -> dict[str, Pin]:
    """Name (normalised) → pin, from a `uv pip compile --generate-hashes` / pip-compile lock."""
    pins: dict[str, Pin] = {}
    current: Pin | None = None
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if not line[0].isspace():
            match = _PIN.match(line)
            assert match, f"line {number} is neither a pin (name==version) nor a hash: {line!r}"
            name = canonicalize_name(match.group(1))
            assert name not in pins, f"{name} is pinned twice (line {number})"
            current = pins[name] = Pin(match.group(2), (match.group(3) or "").strip())
        else:
            assert current is not None, f"line {number} continues no pin: {line!r}"
            current.hashes.update(_HASH.findall(line))
    return pins


def pin_differences(locks: dict[str, dict[str, Pin]]) -> list[str]:
    """One line per package pinned in several locks with a different version or different hashes."""
    problems = []
    for name in sorted(set().union(*locks.values())):
        pinned = {lock: pins[name] for lock, pins in locks.items() if name in pins}
        if len({(pin.version, frozenset(pin.hashes)) for pin in pinned.values()}) > 1:
            problems.append(
                f"{name}: "
                + ", ".join(f"{lock} has {pin.version} ({len(pin.hashes)} hashes)" for lock, pin in pinned.items())
            )
    return problems


def missing_requirements(requirements: list[str], pins: dict[str, Pin]) -> list[str]:
    """Requirements the lock leaves out, or pins at a version their specifier does not allow."""
    problems = []
    for text in requirements:
        requirement = Requirement(text)
        pin = pins.get(canonicalize_name(requirement.name))
        if pin is None:
            problems.append(f"{requirement.name} is not pinned")
        elif not requirement.specifier.contains(pin.version, prereleases=True):
            problems.append(f"{requirement.name}=={pin.version} does not satisfy {text!r}")
        for extra in sorted(requirement.extras):  # psycopg[binary] → psycopg-binary
            if canonicalize_name(f"{requirement.name}-{extra}") not in pins:
                problems.append(f"{requirement.name}[{extra}]: {requirement.name}-{extra} is not pinned")
    return problems


@pytest.fixture(scope="module")
def locks() -> dict[str, dict[str, Pin]]:
    return {lock: parse_lock((ROOT / lock).read_text(encoding="utf-8")) for lock in EXTRAS}


@pytest.fixture(scope="module")
def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def test_shared_pins_have_the_same_version_and_hashes(locks):
    assert all(len(pins) > 10 for pins in locks.values()), {lock: len(pins) for lock, pins in locks.items()}
    assert pin_differences(locks) == []


def test_every_pin_has_hashes(locks):
    unhashed = [f"{lock}: {name}" for lock, pins in locks.items() for name, pin in pins.items() if not pin.hashes]
    assert unhashed == []


@pytest.mark.parametrize("lock", list(EXTRAS))
def test_each_lock_pins_the_runtime_dependencies_and_its_extras(lock, locks, project):
    requirements = list(project["dependencies"])
    for extra in EXTRAS[lock]:
        requirements += project["optional-dependencies"][extra]
    assert missing_requirements(requirements, locks[lock]) == []


def test_every_extra_goes_into_a_lock(project):
    assert sorted(project["optional-dependencies"]) == sorted(e for extras in EXTRAS.values() for e in extras)


def test_the_readme_regenerates_the_locks_as_their_headers_say(locks):
    """Each lock records the command that made it; the README gives the same commands, and the dev
    and build locks are constrained by the runtime lock (-c requirements.lock)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for lock in EXTRAS:
        header = (ROOT / lock).read_text(encoding="utf-8").splitlines()[:2]
        command = header[1].lstrip("#").strip()
        assert command in readme, f"{lock} was made by `{command}`, which the README does not give"
        assert command.endswith(f"-o {lock}"), command
        if lock != RUNTIME:
            assert f" -c {RUNTIME} " in f" {command} ", f"{lock} is not constrained by {RUNTIME}: {command}"


# --- the checks themselves catch what they are for ----------------------------------------------------

_RUNTIME_TEXT = """\
# header
idna==3.20 \\
    --hash=sha256:aaa \\
    --hash=sha256:bbb
    # via requests
cffi==2.1.1 ; sys_platform == 'linux' \\
    --hash=sha256:ccc
"""


def test_the_parser_reads_versions_markers_and_hashes():
    pins = parse_lock(_RUNTIME_TEXT)
    assert pins == {
        "idna": Pin("3.20", "", {"sha256:aaa", "sha256:bbb"}),
        "cffi": Pin("2.1.1", "sys_platform == 'linux'", {"sha256:ccc"}),
    }


def test_a_different_version_or_hash_is_named():
    runtime = parse_lock(_RUNTIME_TEXT)
    other_version = parse_lock(_RUNTIME_TEXT.replace("idna==3.20", "idna==3.21"))
    other_hash = parse_lock(_RUNTIME_TEXT.replace("sha256:ccc", "sha256:ddd"))
    assert pin_differences({RUNTIME: runtime, DEV: runtime}) == []
    assert pin_differences({RUNTIME: runtime, DEV: other_version}) == [
        f"idna: {RUNTIME} has 3.20 (2 hashes), {DEV} has 3.21 (2 hashes)"
    ]
    assert pin_differences({RUNTIME: runtime, BUILD: other_hash}) == [
        f"cffi: {RUNTIME} has 2.1.1 (1 hashes), {BUILD} has 2.1.1 (1 hashes)"
    ]


def test_a_missing_or_out_of_range_requirement_is_named():
    pins = parse_lock(_RUNTIME_TEXT)
    assert missing_requirements(["idna>=3", "cffi"], pins) == []
    assert missing_requirements(["idna>=4", "psutil>=6", "cffi[binary]"], pins) == [
        "idna==3.20 does not satisfy 'idna>=4'",
        "psutil is not pinned",
        "cffi[binary]: cffi-binary is not pinned",
    ]
