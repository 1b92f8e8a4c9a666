"""The monday token: the OS keyring through the real keyring library, or the environment; never a file.

A keyring backend defined here (an in-memory dict, registered through ``keyring.set_keyring`` like
any plugin) stands in for the OS keyring; ``keyring.backends.fail.Keyring`` is a machine without one.
"""

from __future__ import annotations

import getpass
from pathlib import Path

import keyring
import keyring.backend
import keyring.core
import pytest
from keyring.backends import fail, null

from core.foundation import token as tk
from core.foundation.exceptions import SettingsError
from tests.helpers import MemoryKeyring, install

SECRET = "eyJhbGciOiJIUzI1NiJ9.secret-monday-token-9f3c1a2b"


class LockedKeyring(MemoryKeyring):
    """An OS keyring that exists but refuses to store (a locked collection, a denied prompt)."""

    def set_password(self, service, username, password):
        raise keyring.errors.PasswordSetError("the collection is locked")


@pytest.fixture
def no_keyring(monkeypatch) -> fail.Keyring:
    monkeypatch.delenv(tk.TOKEN_ENV, raising=False)
    backend = fail.Keyring()
    install(monkeypatch, backend)
    return backend


def files_containing(folder: Path, text: str) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and text.encode() in p.read_bytes()]


def test_round_trip_through_the_keyring(memory_keyring):
    assert tk.get_token() is None and tk.token_source() == "none" and tk.token_hint() is None

    tk.set_token(f"  {SECRET}\n")

    assert memory_keyring.items == {("OrderSync", "monday-api-token"): SECRET}
    assert tk.get_token() == SECRET
    assert tk.token_source() == "OS keyring"
    assert tk.token_hint() == "••••1a2b"
    assert tk.keyring_available() and "MemoryKeyring" in tk.keyring_backend_name()

    assert tk.delete_token() is True
    assert memory_keyring.items == {} and tk.get_token() is None and tk.token_source() == "none"
    assert tk.delete_token() is False


def test_the_environment_wins_over_the_keyring(memory_keyring, monkeypatch):
    tk.set_token(SECRET)
    monkeypatch.setenv(tk.TOKEN_ENV, "env-token-from-the-scheduler-77aa")

    assert tk.get_token() == "env-token-from-the-scheduler-77aa"
    assert tk.token_source() == "environment (MONDAY_API_TOKEN)"
    assert tk.token_hint() == "••••77aa"
    assert memory_keyring.items[("OrderSync", "monday-api-token")] == SECRET  # the stored one is untouched


@pytest.mark.parametrize("backend", [fail.Keyring(), null.Keyring(), LockedKeyring()], ids=["fail", "null", "refuses"])
def test_without_a_keyring_storing_is_refused_and_nothing_is_written(backend, monkeypatch, tmp_path):
    monkeypatch.delenv(tk.TOKEN_ENV, raising=False)
    install(monkeypatch, backend)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ORDERSYNC_CONFIG", str(tmp_path / "settings" / "settings.toml"))
    for variable in ("HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "APPDATA", "LOCALAPPDATA"):
        monkeypatch.setenv(variable, str(tmp_path / variable.lower()))

    with pytest.raises(tk.TokenStoreError) as caught:
        tk.set_token(SECRET)

    message = str(caught.value)
    assert isinstance(caught.value, SettingsError) and caught.value.exit_code == 2
    assert "no OS keyring is available" in message
    assert "refuses to store the token in clear text" in message
    assert "MONDAY_API_TOKEN" in message
    assert SECRET not in message and SECRET[-4:] not in message
    assert files_containing(tmp_path, SECRET) == [] and files_containing(tmp_path, SECRET[-12:]) == []
    assert tk.get_token() is None and tk.token_source() == "none"
    assert not tk.keyring_available() or isinstance(backend, LockedKeyring)


def test_no_keyring_is_named_as_such(no_keyring):
    assert not tk.keyring_available()
    assert "no OS keyring available" in tk.keyring_backend_name()
    with pytest.raises(tk.TokenStoreError, match="no OS keyring"):
        tk.delete_token()


@pytest.mark.parametrize("secret", ["a", "abcd", "abcdefg", "abcdefgh", SECRET, "x" * 300 + "tail"])
def test_the_hint_never_shows_more_than_the_last_four_characters(memory_keyring, secret):
    tk.set_token(secret)
    hint = tk.token_hint()
    assert hint is not None and hint.startswith("••••")
    shown = hint.removeprefix("••••")
    assert len(shown) <= 4 and secret.endswith(shown)
    assert len(shown) < len(secret)  # never the whole token, however short
    assert len(secret) < 8 or shown == secret[-4:]


def test_cli_token_set_reads_without_echo_and_stores(memory_keyring, monkeypatch, capsys):
    prompts = []
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": prompts.append(prompt) or SECRET)

    assert tk.cli_token(["set"]) == 0

    out, err = capsys.readouterr()
    assert prompts and memory_keyring.items[("OrderSync", "monday-api-token")] == SECRET
    assert SECRET not in out + err and "••••" + SECRET[-4:] in out and err == ""

    assert tk.cli_token(["delete"]) == 0
    assert memory_keyring.items == {} and "removed" in capsys.readouterr().out


def test_cli_token_set_without_a_keyring_refuses_with_one_line(no_keyring, monkeypatch, capsys):
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": SECRET)

    assert tk.cli_token(["set"]) == 2

    out, err = capsys.readouterr()
    assert out == "" and len(err.strip().splitlines()) == 1
    assert "refuses to store the token in clear text" in err and SECRET not in err


@pytest.mark.parametrize("argv", [[], ["show"], ["set", "extra"]])
def test_cli_token_usage_errors(memory_keyring, argv, capsys):
    assert tk.cli_token(argv) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_an_empty_token_is_not_stored(memory_keyring, monkeypatch, capsys):
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": "   ")
    assert tk.cli_token(["set"]) == 2
    assert memory_keyring.items == {} and "empty" in capsys.readouterr().err


# == tokens with whitespace or control characters inside ===========================================

from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

TOKEN_PART = st.text(alphabet="0123456789abcdefghijklmnopqrstuvwxyz", min_size=8, max_size=40)
INSIDE = st.sampled_from(["\n", "\r\n", " ", "\t", "\x01", "\x1b", "\x7f", "\u2028", "\u00a0", "\u200b"])


@hsettings(max_examples=200, deadline=None)
@given(head=TOKEN_PART, bad=INSIDE, tail=TOKEN_PART)
def test_a_token_with_anything_inside_that_is_not_the_token_is_refused_without_showing_it(head, bad, tail):
    token = f"{head}{bad}{tail}"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(tk.TOKEN_ENV, f"  {token}\n")  # the ends may be padded: that is stripped, not refused
        with pytest.raises(tk.MalformedToken) as caught:
            tk.get_token()
    message = str(caught.value)
    assert head not in message and tail not in message and tk.TOKEN_ENV in message
    assert tk.MalformedToken.exit_code == 2


def test_padding_at_the_ends_is_not_part_of_the_token(monkeypatch, memory_keyring):
    monkeypatch.setenv(tk.TOKEN_ENV, f"\n  {SECRET}\r\n")
    assert tk.get_token() == SECRET


def test_a_malformed_token_is_refused_by_token_set_and_from_the_keyring(memory_keyring, monkeypatch, capsys):
    monkeypatch.delenv(tk.TOKEN_ENV, raising=False)
    with pytest.raises(tk.MalformedToken, match="you entered contains a line break"):
        tk.set_token("abcdefgh12\nijklmnop34")
    assert memory_keyring.items == {}  # nothing was stored
    memory_keyring.set_password(tk.KEYRING_SERVICE, tk.KEYRING_USER, "abcdefgh12 ijklmnop34")  # stored by hand
    with pytest.raises(tk.MalformedToken, match="stored in the OS keyring contains a space"):
        tk.get_token()
    assert tk.token_hint() == "malformed: set it again"
