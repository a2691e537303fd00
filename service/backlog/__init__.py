"""The backlog: findings grouped into items, the pure plan of what to create, update, close or reopen, its
application through the GitHub adapter, and the dashboard issue."""

from __future__ import annotations

from .apply import on_issue_event, sync_backlog
from .items import BODY_MAX, FAMILIES, Links, item_labels, item_title, items_from_findings, render_item_section
from .plan import StoredItem, SyncPlan, plan_sync

__all__ = [
    "BODY_MAX",
    "FAMILIES",
    "Links",
    "StoredItem",
    "SyncPlan",
    "item_labels",
    "item_title",
    "items_from_findings",
    "on_issue_event",
    "plan_sync",
    "render_item_section",
    "sync_backlog",
]
