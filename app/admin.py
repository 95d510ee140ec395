"""Admin actions over HTTP: reload the model now, promote a registry version.

They change what every consumer of the alerts sees, so each needs the bearer
token from VOLSPIKE_ADMIN_TOKEN; without one configured they are off (403).
The token is compared in constant time and never logged.
"""

from __future__ import annotations

import asyncio
import hmac
import logging

import orjson
from faust import web

from agents.scoring import scorer
from app.core import app
from app.predict import BadRequest
from app.settings import settings

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 4096


def authorize(request: web.Request) -> None:
    """401 without a bearer token, 403 with a wrong one or when admin is off."""
    if not settings.admin_token:
        raise BadRequest(403, "admin actions are off: set VOLSPIKE_ADMIN_TOKEN on the worker")
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized()
    if not hmac.compare_digest(token.strip().encode(), settings.admin_token.encode()):
        raise BadRequest(403, "wrong admin token")


class Unauthorized(BadRequest):
    def __init__(self) -> None:
        super().__init__(401, "admin actions need 'Authorization: Bearer <VOLSPIKE_ADMIN_TOKEN>'")


def _serving() -> dict:
    return {"model_name": scorer.name, "model_version": scorer.version,
            "degraded": scorer.degraded, "error": scorer.last_error}


@app.page("/admin/reload")
class Reload(web.View):
    """Ask the registry for the champion now instead of at the next poll."""

    async def post(self, request: web.Request) -> web.Response:
        authorize(request)
        await scorer.refresh()
        log.info("admin: model reload requested; serving %s", scorer.version)
        return self.json(_serving())


@app.page("/admin/promote")
class Promote(web.View):
    """Move @champion to {"version": "N"}; this worker serves it at once, others at their poll."""

    async def post(self, request: web.Request) -> web.Response:
        authorize(request)
        version = _version(await request.content.read(MAX_BODY_BYTES + 1))
        from mlflow.exceptions import MlflowException

        from models import registry

        try:
            previous = await asyncio.get_running_loop().run_in_executor(None, _promote, version)
        except MlflowException as exc:
            code = 404 if exc.error_code == "RESOURCE_DOES_NOT_EXIST" else 502
            raise BadRequest(code, f"cannot promote version {version}: {exc.message}") from None
        log.info("admin: promoted %s version %s (was %s)", registry.MODEL_NAME, version, previous)
        await scorer.refresh()
        return self.json({"previous": previous, "promoted": version, **_serving()})


def _promote(version: str) -> str | None:
    from models import registry

    registry.configure(settings.mlflow_tracking_uri, settings.mlflow_artifacts)
    return registry.promote(version)


def _version(body: bytes) -> str:
    if len(body) > MAX_BODY_BYTES:
        raise BadRequest(413, f"body over {MAX_BODY_BYTES} bytes")
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(400, f"body is not JSON: {exc}") from None
    version = payload.get("version") if isinstance(payload, dict) else None
    if isinstance(version, int) and not isinstance(version, bool):
        version = str(version)
    if not isinstance(version, str) or not version.isdigit():
        raise BadRequest(422, 'expected {"version": "<registry version number>"}',
                         [{"field": "version", "error": "a version number is required"}])
    return version
