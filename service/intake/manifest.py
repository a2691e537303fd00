"""The GitHub App manifest this service registers itself with (the setup page and `paydown app-manifest`)."""

from __future__ import annotations

import json
from typing import Any

from paydown.templating import render

from ..settings import Settings


def app_manifest(settings: Settings, *, name: str = "paydown", url: str | None = None,
                 webhook_url: str | None = None) -> dict[str, Any]:
    """A GitHub App manifest for this service (https://docs.github.com/apps/sharing-github-apps/
    registering-a-github-app-from-a-manifest). Installation events need no subscription: GitHub always sends them."""
    base = (url or settings.public_url).rstrip("/")
    text = render("app-manifest.json.j2", app_name=name, url=base, webhook_url=webhook_url or f"{base}/webhook",
                  redirect_url=f"{base}/", callback_urls=[f"{base}/login/callback"])
    return json.loads(text)
