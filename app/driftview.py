"""GET /drift (the latest Evidently report) and GET /api/drift (its summary)."""

from __future__ import annotations

from faust import web

from agents.quality import monitor
from app.core import app


@app.page("/drift")
async def drift_report(self: web.View, request: web.Request) -> web.Response:
    """This worker's latest drift report; 503 with the reason before the first one."""
    if monitor.summary is None or not monitor.html.exists():
        return self.json({"error": monitor.status}, status=503)
    return self.html(monitor.html.read_text())


@app.page("/api/drift")
async def drift_summary(self: web.View, request: web.Request) -> web.Response:
    if monitor.summary is None:
        return self.json({"error": monitor.status}, status=503)
    return self.json({**monitor.summary, "status": monitor.status})
