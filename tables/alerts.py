"""Alert state per product: armed or not, and the last alert and window seen."""

from __future__ import annotations

from app.core import app

alert_state = app.Table("alert-state", default=None)
