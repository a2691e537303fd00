"""The one GitHub adapter: App auth, paydown's verbs over PyGithub, and GitHub's errors as a small hierarchy.

CONTRACT (written before the implementation; the implementer keeps every name and signature below, may add
private helpers and optional keyword arguments, and must not rename anything other modules import).

Every API call goes through one PyGithub `Requester` per client with PyGithub's own retries and pacing switched
off: `_Transport` applies paydown's policy instead (idempotent requests retried on 5xx/reset/timeout, POSTs
never blindly; rate-limit waits with a cap; one re-authentication on 401; a gap between writes). Only the
tarball download uses `requests` directly, because PyGithub's requester cannot follow a redirect to another
port of the same host (it asserts the port) and forwards Authorization to it.

The adapter's parts live in its siblings in this package: `records` (errors, records, their JSON), `transport`
(`_Transport` and its policy), `installation` (InstallationClient) and `oauth` (GitHubOAuth). Every other package
imports them from `paydown.service.github`.
"""

from __future__ import annotations

import logging
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

import github
import github.Auth
import jwt

from ..settings import Settings
from .installation import InstallationClient
from .records import (
    AppCredentials,
    GitHubError,
    InstallationRecord,
    RepoRecord,
    RequestLog,
    _app_credentials,
    _installation_record,
    _parse_time,
)
from .transport import _CallableJWT, _server_time, _Transport

log = logging.getLogger("paydown.github")

_JWT_BACKDATE_SECONDS = 60
_JWT_LIFETIME_SECONDS = 540
_TOKEN_MARGIN_SECONDS = 60.0
_SKEW_TOLERANCE_SECONDS = 30.0


# ---------------------------------------------------------------- the App


@dataclass
class _Token:
    value: str = field(repr=False)
    refresh_at: float  # time.monotonic() after which a new token is minted


class GitHubApp:
    """The App itself: JWT auth, installation tokens (cached, re-minted before they expire), installations."""

    def __init__(self, settings: Settings, *, clock: Callable[[], float] | None = None,
                 sleep: Callable[[float], None] | None = None, retry_backoff_seconds: float = 0.5) -> None:
        self.settings = settings
        self.token_mints = 0
        self._clock = clock or time.time
        self._sleep = sleep or time.sleep
        self._backoff = retry_backoff_seconds
        self._skew = 0.0  # server time minus our clock, learnt from a 401's Date header
        self._lock = threading.RLock()
        self._tokens: dict[int, _Token] = {}
        self._clients: dict[int, InstallationClient] = {}
        self._bot_login: str | None = None
        self._transport = self._new_transport(_CallableJWT(self._jwt), reauthenticate=self._learn_skew)

    def _new_transport(self, auth: github.Auth.Auth, *, reauthenticate: Callable[[Mapping[str, str]], bool],
                       log: RequestLog | None = None) -> _Transport:
        return _Transport(self.settings, self.settings.github_api_url, auth, clock=self._now, sleep=self._sleep,
                          backoff=self._backoff, log=log, reauthenticate=reauthenticate)

    def __enter__(self) -> GitHubApp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close every connection (the App's and its installation clients')."""
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()
        self._transport.close()

    # ------------------------------------------------------------ JWT and installation tokens

    def _now(self) -> float:
        return self._clock() + self._skew

    def _jwt(self) -> str:
        if not self.settings.app_configured:
            raise GitHubError("no GitHub App is configured (PAYDOWN_GITHUB_APP_ID and its private key)")
        now = int(self._now())
        payload = {"iat": now - _JWT_BACKDATE_SECONDS, "exp": now + _JWT_LIFETIME_SECONDS,
                   "iss": str(self.settings.github_app_id)}
        try:
            return jwt.encode(payload, str(self.settings.github_private_key), algorithm="RS256")
        except (ValueError, TypeError, jwt.PyJWTError):
            raise GitHubError("the App's private key cannot sign a JWT (is it the App's RSA key?)") from None

    def _learn_skew(self, headers: Mapping[str, str]) -> bool:
        """After a 401 to a JWT: when GitHub's clock differs from ours, sign with GitHub's time and try again."""
        server = _server_time(headers)
        if server is None:
            return False
        skew = server - self._clock()
        if abs(skew - self._skew) < _SKEW_TOLERANCE_SECONDS:
            return False
        log.warning("our clock is %.0f s off GitHub's: JWTs are now signed with GitHub's time", -skew)
        self._skew = skew
        return True

    def _token(self, installation_id: int) -> str:
        with self._lock:
            cached = self._tokens.get(installation_id)
            if cached is not None and time.monotonic() < cached.refresh_at:
                return cached.value
            return self._mint(installation_id)

    def _mint(self, installation_id: int) -> str:
        # Minting is safe to repeat and creates no content: retried like a GET, not paced like a write.
        headers, data = self._transport.json("POST", f"/app/installations/{int(installation_id)}/access_tokens",
                                             idempotent=True, write=False)
        value, expires = str(data["token"]), _parse_time(data.get("expires_at"))
        now = _server_time(headers) or self._now()
        lifetime = expires.timestamp() - now if expires else 3600.0
        # A margin so a token never expires mid-request, small enough that short-lived tokens are still reused.
        margin = min(_TOKEN_MARGIN_SECONDS, max(lifetime, 0.0) / 4)
        self._tokens[installation_id] = _Token(value, time.monotonic() + lifetime - margin)
        self.token_mints += 1
        log.info("minted an installation token for %d (valid %.0f s)", installation_id, lifetime)
        return value

    def _token_rejected(self, installation_id: int) -> bool:
        with self._lock:
            self._tokens.pop(installation_id, None)
        return True

    # ------------------------------------------------------------ the App's own calls

    def bot_login(self) -> str:
        """`<slug>[bot]`: the author of everything paydown writes (GET /app, cached)."""
        if self._bot_login is None:
            _, data = self._transport.json("GET", "/app")
            self._bot_login = f"{data['slug']}[bot]"
        return self._bot_login

    def convert_manifest(self, code: str) -> AppCredentials:
        """The App GitHub created from paydown's manifest (POST /app-manifests/{code}/conversions, no
        authentication). Works without a configured App. Sent once, never again: a code converts only once."""
        if not code or len(code) > 200:
            raise ValueError("a manifest code is 1 to 200 characters")
        # Not sent again after any failure, a rate limit included: the user starts over with a fresh code.
        once = replace(self.settings, request_retries=0, rate_limit_max_wait_seconds=0.0)
        transport = _Transport(once, self.settings.github_api_url, None, clock=self._now, sleep=self._sleep,
                               backoff=self._backoff, pace_writes=False)
        try:
            _, data = transport.json("POST", f"/app-manifests/{urllib.parse.quote(code, safe='')}/conversions",
                                     idempotent=False, write=False, shown_path="/app-manifests/(code)/conversions")
        finally:
            transport.close()
        return _app_credentials(data)

    def get_installation(self, installation_id: int) -> InstallationRecord:
        _, data = self._transport.json("GET", f"/app/installations/{int(installation_id)}")
        return _installation_record(data)

    def list_installation_repositories(self, installation_id: int) -> list[RepoRecord]:
        return self.installation(installation_id).list_repositories()

    def installation(self, installation_id: int) -> InstallationClient:
        """A client acting as that installation (token minted lazily, shared per installation)."""
        with self._lock:
            client = self._clients.get(installation_id)
            if client is None:
                client = self._clients[installation_id] = InstallationClient(self, installation_id)
            return client

    def forget_installation(self, installation_id: int) -> None:
        """Drop the cached token (installation deleted or suspended)."""
        with self._lock:
            self._tokens.pop(installation_id, None)
            client = self._clients.pop(installation_id, None)
        if client is not None:
            client.close()
