"""The OAuth web flow for viewers of the web page, and what their own token can see."""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Callable

import github
import github.Auth

from ..settings import Settings
from .records import GitHubError, OAuthUser, Unauthorized
from .transport import _Transport

# ---------------------------------------------------------------- OAuth for the web page (the viewer's own token)


class GitHubOAuth:
    """The OAuth web flow for viewers of the web page and what their token can see."""

    def __init__(self, settings: Settings, *, sleep: Callable[[float], None] | None = None,
                 retry_backoff_seconds: float = 0.5) -> None:
        self.settings = settings
        self._sleep = sleep or time.sleep
        self._backoff = retry_backoff_seconds

    def _client(self) -> tuple[str, str]:
        client_id, secret = self.settings.oauth_client_id, self.settings.oauth_client_secret
        if not client_id or not secret:
            raise GitHubError("the GitHub login is not configured (PAYDOWN_GITHUB_CLIENT_ID and _SECRET)")
        return client_id, secret

    def _transport(self, base_url: str, auth: github.Auth.Auth | None) -> _Transport:
        return _Transport(self.settings, base_url, auth, clock=time.time, sleep=self._sleep, backoff=self._backoff,
                          pace_writes=False)

    def authorize_url(self, *, state: str, redirect_uri: str) -> str:
        client_id, _ = self._client()
        query = urllib.parse.urlencode({"client_id": client_id, "redirect_uri": redirect_uri, "state": state,
                                        "allow_signup": "false"})
        return f"{self.settings.github_web_url.rstrip('/')}/login/oauth/authorize?{query}"

    def exchange_code(self, code: str, *, redirect_uri: str, state: str) -> str:
        """The user's access token for an authorization code."""
        client_id, secret = self._client()
        # PyGithub's ApplicationOAuth.get_access_token cannot send redirect_uri: its requester, on the web host.
        transport = self._transport(self.settings.github_web_url, None)
        try:
            _, data = transport.json("POST", "/login/oauth/access_token", headers={"Accept": "application/json"},
                                     body={"client_id": client_id, "client_secret": secret, "code": code,
                                           "redirect_uri": redirect_uri, "state": state},
                                     idempotent=False, write=False)
        finally:
            transport.close()
        if not isinstance(data, dict) or not data.get("access_token"):
            error = str(data.get("error") or "no access_token") if isinstance(data, dict) else "no answer"
            raise Unauthorized(f"GitHub did not accept the authorization code ({error[:100]})", 401)
        return str(data["access_token"])

    def user(self, token: str) -> OAuthUser:
        transport = self._transport(self.settings.github_api_url, github.Auth.Token(token))
        try:
            _, data = transport.json("GET", "/user")
        finally:
            transport.close()
        return OAuthUser(id=int(data["id"]), login=str(data["login"]))

    def accessible_repositories(self, token: str) -> set[str]:
        """full_names the user can see through their installations of this App
        (GET /user/installations, then /user/installations/{id}/repositories)."""
        transport = self._transport(self.settings.github_api_url, github.Auth.Token(token))
        app_id = self.settings.github_app_id
        try:
            installations = [inst for inst in transport.pages("/user/installations", key="installations")
                             if app_id is None or inst.get("app_id", app_id) == app_id]
            return {str(repo["full_name"]) for inst in installations
                    for repo in transport.pages(f"/user/installations/{int(inst['id'])}/repositories",
                                                key="repositories")}
        finally:
            transport.close()
