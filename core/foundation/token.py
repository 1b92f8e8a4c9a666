"""The monday API token: from MONDAY_API_TOKEN, else the OS keyring. Never from or to a file.

The settings dialog and ``ordersync token set`` write the keyring item; nothing writes the token
anywhere else, and logs redact it. When the machine has no usable keyring (a headless Linux server
without Secret Service, or only a plain-text file backend), storing is refused rather than falling
back to a file: such machines pass the token through MONDAY_API_TOKEN instead.
"""

from __future__ import annotations

import getpass
import logging
import os
import sys
import unicodedata
from typing import TYPE_CHECKING

from core.foundation.exceptions import SettingsError
from core.foundation.logs import register_secret
from core.foundation.resources import program_command

if TYPE_CHECKING:
    from keyring.backend import KeyringBackend

log = logging.getLogger(__name__)

TOKEN_ENV = "MONDAY_API_TOKEN"
KEYRING_SERVICE = "OrderSync"
KEYRING_USER = "monday-api-token"

SOURCE_ENV = f"environment ({TOKEN_ENV})"
SOURCE_KEYRING = "OS keyring"
SOURCE_NONE = "none"

HINT_MASK = "••••"
HINT_MIN_LENGTH = 8  # a shorter token would be mostly given away by its last four characters


class TokenStoreError(SettingsError):
    """The token cannot be stored (or removed): there is no usable OS keyring, or it refused."""


class MalformedToken(SettingsError):
    """The token holds whitespace or control characters inside: no token monday issues does (exit 2)."""


def token_problem(token: str) -> str | None:
    """What makes ``token`` (already stripped at both ends) unusable, in words that never quote it."""
    if any(ch in "\r\n" for ch in token):
        return "contains a line break"
    if any(ch.isspace() for ch in token):
        return "contains a space or a tab"
    if any(unicodedata.category(ch).startswith("C") for ch in token):
        return "contains a control character"
    return None


def _checked(token: str | None, where: str) -> str | None:
    """``token`` as it is used: stripped at both ends (copying it often adds a newline), registered
    for redaction before anything can print it, and refused when anything inside is not the token's."""
    if token is None:
        return None
    token = token.strip()
    register_secret(token)  # whoever reads the token, the logs never show it
    problem = token_problem(token) if token else None
    if problem:
        raise MalformedToken(
            f"the monday API token {where} {problem}, so it cannot be the token monday "
            f"issued; set it again (`{program_command('token set')}` or {TOKEN_ENV})"
        )
    return token or None


def get_token() -> str | None:
    """The token, or None when neither the environment nor the keyring has one; MalformedToken (exit
    2) when the one found holds whitespace or control characters inside."""
    env = os.environ.get(TOKEN_ENV, "")
    if env.strip():
        return _checked(env, f"in {TOKEN_ENV}")
    return _checked(_stored_token(), "stored in the OS keyring")


def _stored_token() -> str | None:
    """The keyring's token, or None (also when there is no usable keyring)."""
    try:
        import keyring
        from keyring.errors import KeyringError

        try:
            return keyring.get_password(KEYRING_SERVICE, KEYRING_USER) or None
        except KeyringError as exc:
            if _usable(keyring.get_keyring()):
                log.warning("the OS keyring could not be read: %s", exc)
            return None
    except Exception as exc:  # noqa: BLE001 - no usable backend on this machine (e.g. a headless Linux server)
        log.debug("no keyring backend: %s", exc)
        return None


# --- the keyring backend --------------------------------------------------------------------------


def _usable(backend: KeyringBackend) -> bool:
    """Whether ``backend`` is an OS keyring keyring itself would recommend (priority >= 1).

    This rules out the fail and null backends and keyrings.alt's plain-text file backends (their
    priority is below 1). A chainer is usable when one of the keyrings it chains is.
    """
    from keyring.backends import chainer, fail, null

    if isinstance(backend, (fail.Keyring, null.Keyring)):
        return False
    if isinstance(backend, chainer.ChainerBackend):
        return any(_usable(b) for b in backend.backends)
    try:
        return float(backend.priority) >= 1
    except Exception:  # noqa: BLE001 - a backend whose viability check raises is not viable
        return False


def _backend() -> KeyringBackend:
    import keyring

    return keyring.get_keyring()


def keyring_available() -> bool:
    """Whether ``set_token`` can store a token on this machine."""
    try:
        return _usable(_backend())
    except Exception as exc:  # noqa: BLE001 - any backend's failure means no usable keyring
        log.debug("no keyring backend: %s", exc)
        return False


def keyring_backend_name() -> str:
    """The keyring backend in use, for the settings dialog and status (e.g. "Windows WinVaultKeyring")."""
    try:
        backend = _backend()
    except Exception as exc:  # noqa: BLE001 - any backend's failure means no usable keyring
        log.debug("no keyring backend: %s", exc)
        return "none (no OS keyring available)"
    name = str(getattr(backend, "name", type(backend).__name__))
    return name if _usable(backend) else f"{name} (no OS keyring available)"


def _refusal(detail: str = "") -> TokenStoreError:
    reason = f" ({detail})" if detail else ""
    return TokenStoreError(
        f"no OS keyring is available to store the monday API token{reason}; OrderSync refuses to store "
        f"the token in clear text. Set the {TOKEN_ENV} environment variable instead."
    )


def set_token(token: str) -> None:
    """Store ``token`` in the OS keyring, or raise TokenStoreError; it is never written anywhere else."""
    checked = _checked(token, "you entered")  # refused here, never stored
    if not checked:
        raise SettingsError("the monday API token is empty; nothing was stored")
    try:
        import keyring

        backend = keyring.get_keyring()
    except Exception as exc:  # noqa: BLE001 - any backend's failure is the same refusal, named
        raise _refusal(type(exc).__name__) from None
    if not _usable(backend):
        raise _refusal(f"keyring backend: {getattr(backend, 'name', type(backend).__name__)}")
    register_secret(checked)
    try:
        backend.set_password(KEYRING_SERVICE, KEYRING_USER, checked)
    except Exception as exc:  # noqa: BLE001 - NoKeyringError, PasswordSetError, a locked or absent D-Bus service, ...
        # The exception text comes from the backend, never from the token.
        raise _refusal(f"{getattr(backend, 'name', type(backend).__name__)}: {_first_line(exc)}") from None
    log.info("stored the monday API token in the OS keyring (%s)", getattr(backend, "name", type(backend).__name__))


def delete_token() -> bool:
    """Remove the stored token; False when none was stored. Raises TokenStoreError without a keyring."""
    try:
        import keyring
        from keyring.errors import PasswordDeleteError

        backend = keyring.get_keyring()
    except Exception as exc:  # noqa: BLE001 - any backend's failure is the same refusal, named
        raise _refusal(type(exc).__name__) from None
    if not _usable(backend):
        raise TokenStoreError("no OS keyring is available, so no token is stored in one")
    try:
        if backend.get_password(KEYRING_SERVICE, KEYRING_USER) is None:
            return False
        backend.delete_password(KEYRING_SERVICE, KEYRING_USER)
    except PasswordDeleteError:
        return False
    except Exception as exc:  # noqa: BLE001 - backends raise their own kinds of errors
        raise TokenStoreError(f"the OS keyring refused to remove the token: {_first_line(exc)}") from None
    log.info("removed the monday API token from the OS keyring")
    return True


def hint_of(token: str | None) -> str | None:
    """The mask and the last four characters of ``token`` (only the mask for a short token), or None."""
    if not token:
        return None
    return HINT_MASK + token[-4:] if len(token) >= HINT_MIN_LENGTH else HINT_MASK


def token_hint() -> str | None:
    """A recognisable hint of the token in use (see ``token_source``), never more than its last 4 characters."""
    try:
        return hint_of(get_token())
    except MalformedToken:
        return "malformed: set it again"


def keyring_has_token() -> bool:
    """Whether the OS keyring holds a token (whether or not the environment overrides it)."""
    return _stored_token() is not None


def token_source() -> str:
    """Where the token in use comes from: the environment, the OS keyring, or "none"."""
    if os.environ.get(TOKEN_ENV, "").strip():
        return SOURCE_ENV
    if _stored_token():
        return SOURCE_KEYRING
    return SOURCE_NONE


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# --- command line: `ordersync token set|delete` ----------------------------------------------------

_USAGE = "usage: ordersync token {set,delete}"


def cli_token(argv: list[str]) -> int:
    """``token set`` reads the token without echo and stores it; ``token delete`` removes it.

    Exit 0 when done, 2 when refused (one line on stderr).
    """
    prog = "ordersync token"
    if len(argv) != 1 or argv[0] not in ("set", "delete"):
        if argv and argv[0] in ("-h", "--help"):
            print(_USAGE)
            print("  set     read the monday API token (not echoed) and store it in the OS keyring")
            print("  delete  remove the stored token from the OS keyring")
            return 0
        print(f"{prog}: error: expected one of set, delete ({_USAGE})", file=sys.stderr)
        return 2
    try:
        if argv[0] == "set":
            try:
                token = getpass.getpass("monday API token (not shown): ")
            except (EOFError, KeyboardInterrupt):
                print(f"{prog}: error: no token entered; nothing was stored", file=sys.stderr)
                return 2
            set_token(token)
            print(f"stored the monday API token in the OS keyring ({keyring_backend_name()}): {hint_of(token.strip())}")
            if os.environ.get(TOKEN_ENV, "").strip():
                print(f"note: {TOKEN_ENV} is set in this environment and takes precedence over the keyring")
        elif delete_token():
            print("removed the monday API token from the OS keyring")
        else:
            print("no monday API token was stored in the OS keyring")
    except SettingsError as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 2
    return 0
