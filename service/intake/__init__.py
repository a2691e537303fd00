"""Intake: the Flask app factory, the webhook (verify, parse, route, enqueue) and the App registration page."""

from __future__ import annotations

from .app import create_app, register_blueprints
from .manifest import app_manifest
from .webhook import BadDelivery, Event, Router, parse_event, router, verify_signature

__all__ = [
    "BadDelivery",
    "Event",
    "Router",
    "app_manifest",
    "create_app",
    "parse_event",
    "register_blueprints",
    "router",
    "verify_signature",
]
