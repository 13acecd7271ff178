"""Who may connect to the admin namespace: ``instrument(auth=...)``, checked once.

The admin UI sends ``{username, password}`` on its first connection, then the session
id the server gave it (``session`` event) on reconnections, as Node's
``@socket.io/admin-ui`` does. Passwords are never stored in clear text: ``auth`` holds a
hash, in one of two formats:

- bcrypt (``$2b$...``), as Node's admin UI takes: the hash a Node deployment already has
  works unchanged. Checking it needs the ``bcrypt`` package
  (``pip install flask-realtime[admin]``).
- werkzeug's ``generate_password_hash`` (``scrypt:...``, ``pbkdf2:...``): no extra
  package, werkzeug comes with Flask.

Checking a hash is slow on purpose (tens to hundreds of milliseconds): it runs on a
worker thread, never on the loop.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable, Mapping
from typing import Any

from ..exceptions import ConfigurationError

__all__ = ["MAX_SESSIONS", "AdminAuth", "check_password"]

MAX_SESSIONS = 1000
"""Session ids remembered (the oldest is forgotten first: its UI logs in again)."""

_BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")
_WERKZEUG_PREFIXES = ("scrypt:", "pbkdf2:")
_HOW = (
    "give a hash: werkzeug.security.generate_password_hash(password), or a bcrypt hash "
    "(bcrypt.hashpw(password.encode(), bcrypt.gensalt()).decode(); pip install "
    "flask-realtime[admin])"
)


def _bcrypt() -> Any:
    try:
        import bcrypt
    except ImportError:
        raise ConfigurationError(
            "a bcrypt password hash needs the bcrypt package: pip install flask-realtime[admin]"
        ) from None
    return bcrypt


def _check_hash_format(password_hash: object) -> str:
    if not isinstance(password_hash, str):
        raise ConfigurationError(f"the admin password must be a hash string: {_HOW}")
    if password_hash.startswith(_BCRYPT_PREFIXES):
        _bcrypt()
        return password_hash
    if password_hash.startswith(_WERKZEUG_PREFIXES):
        return password_hash
    raise ConfigurationError(f"the admin password is not a known hash (never clear text): {_HOW}")


def check_password(password_hash: str, password: object) -> bool:
    """Whether ``password`` matches ``password_hash`` (bcrypt or werkzeug format)."""
    if not isinstance(password, str):
        return False
    if password_hash.startswith(_BCRYPT_PREFIXES):
        try:
            return bool(_bcrypt().checkpw(password.encode(), password_hash.encode()))
        except ValueError:
            return False
    from werkzeug.security import check_password_hash

    return check_password_hash(password_hash, password)


class AdminAuth:
    """The credentials ``instrument(auth=...)`` accepts, checked at construction.

    Args:
        auth: ``False`` (anyone may connect: development only), a dict
            ``{"username": ..., "password": <hash>}``, a list of such dicts, or a function
            that takes the client's auth dict and returns whether to let it in.

    Raises:
        ConfigurationError: ``auth`` missing (``None``: say ``False`` to mean no
            authentication, as Node requires), of another type, or a password that is not
            a hash.
    """

    def __init__(self, auth: object) -> None:
        self._users: list[tuple[str, str]] = []
        self._check: Callable[[Any], Any] | None = None
        self.required = auth is not False
        self._sessions: dict[str, None] = {}  # oldest first, at most MAX_SESSIONS
        if auth is None:
            raise ConfigurationError(
                "instrument() needs auth: {'username': ..., 'password': <hash>}, a list of "
                "them, a function, or auth=False to let anyone in"
            )
        if auth is False:
            return
        if callable(auth):
            self._check = auth
            return
        entries = [auth] if isinstance(auth, Mapping) else auth
        if not isinstance(entries, list) or not entries:
            raise ConfigurationError(
                f"auth must be a dict, a list of dicts, a function or False, not {auth!r}"
            )
        for entry in entries:
            if not isinstance(entry, Mapping) or not isinstance(entry.get("username"), str):
                raise ConfigurationError("each auth entry needs a username and a password hash")
            self._users.append((entry["username"], _check_hash_format(entry.get("password"))))

    def new_session(self) -> str:
        """A session id for a client that logged in (sent to it in ``session``)."""
        session_id = secrets.token_hex(16)
        sessions = self._sessions
        sessions[session_id] = None
        if len(sessions) > MAX_SESSIONS:
            del sessions[next(iter(sessions))]
        return session_id

    def accepts(self, client_auth: object) -> bool:
        """Whether a client with this auth may connect (a worker thread: may be slow)."""
        if not self.required:
            return True
        if not isinstance(client_auth, Mapping):
            return False
        if self._check is not None:
            return bool(self._check(dict(client_auth)))
        session_id = client_auth.get("sessionId")
        if isinstance(session_id, str) and session_id in self._sessions:
            return True
        username = client_auth.get("username")
        if not isinstance(username, str):
            return False
        for known, password_hash in self._users:
            if hmac.compare_digest(known.encode(), username.encode()) and check_password(
                password_hash, client_auth.get("password")
            ):
                return True
        return False

    def knows_session(self, client_auth: object) -> bool:
        """Whether the client came back with a session id it was given."""
        if not isinstance(client_auth, Mapping):
            return False
        session_id = client_auth.get("sessionId")
        return isinstance(session_id, str) and session_id in self._sessions
