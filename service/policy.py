"""Names and policies every part of the service shares: the check run's name and paydown's label, where the factory
keeps the settings and the store, how long a sign-in lasts, and the security headers every answer carries. It imports
nothing of the service's, so the app factory, the webhook, the setup page and the web page can all read it without
importing one another."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Response

CHECK_NAME = "paydown"  # the check run the review creates, and the one whose re-run the webhook routes
PAYDOWN_LABEL = "paydown"  # the label on every backlog issue (templates/issues/labels.yaml); a sprint holds them
SETTINGS_KEY = "PAYDOWN_SETTINGS"  # app.config["PAYDOWN_SETTINGS"]: the one Settings of this app, set by the factory
STORE_KEY = "paydown.store"  # app.extensions["paydown.store"]: the Store, set by store.init_app
SESSION_LIFETIME = timedelta(hours=8)  # a sign-in ends after this at the latest (the store enforces it too)
CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; "
       "frame-ancestors 'none'")
SECURITY_HEADERS = {  # every answer's, unless its view set its own (the setup page's CSP, the assets' caching)
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "private, no-store",
}


def security_headers(response: Response) -> Response:
    """Add the headers every answer carries, keeping any a view already set."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response
