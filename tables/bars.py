"""Closed 1-second bars per product and the per-product window state.

`bars` is a tumbling windowed table with no Faust-managed expiry: Faust
expires windows by wall clock (which would wipe replayed history at once) and
never expires windows restored from a changelog, so the bars agent deletes
bars older than the retention itself, by event time.
"""

from __future__ import annotations

from app.core import app
from models.bars import BAR_SECONDS

bars = app.Table("bars", default=None).tumbling(BAR_SECONDS)

#: product → its latest closed bar and score, for the web view (recovery uses `bars`).
product_state = app.Table("product-state", default=None)



def window_range(start: int) -> tuple[float, float]:
    """Faust's key for the tumbling window that starts at `start`."""
    return bars.table.window.ranges(start)[0]
