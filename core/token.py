"""The monday API token: from MONDAY_API_TOKEN, else the OS keyring. Never from or to a file.

The settings dialog and ``ordersync token set`` write the keyring item; nothing writes the token
anywhere else, and logs redact it.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)

TOKEN_ENV = "MONDAY_API_TOKEN"
KEYRING_SERVICE = "OrderSync"
KEYRING_USER = "monday-api-token"


def get_token() -> str | None:
    """The token, or None when neither the environment nor the keyring has one."""
    token = os.environ.get(TOKEN_ENV, "").strip()
    if token:
        return token
    try:
        import keyring
        from keyring.errors import KeyringError

        try:
            return keyring.get_password(KEYRING_SERVICE, KEYRING_USER) or None
        except KeyringError as exc:
            log.warning("the OS keyring could not be read: %s", exc)
            return None
    except Exception as exc:  # no usable backend on this machine (e.g. a headless Linux server)
        log.debug("no keyring backend: %s", exc)
        return None
