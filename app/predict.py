"""POST /predict: strict validation of feature rows, then batch scoring.

A bad request must never reach the model or become a 500: the body is
bounded (413), must be JSON (400), and every row must name exactly the
model's features with finite numbers (422, with one error per offending
field, NaN and Infinity included).
"""

from __future__ import annotations

import json
import math

import numpy as np
import orjson
from faust.web.exceptions import WebError

from models.features import FEATURES

MAX_BODY_BYTES = 2 * 1024 * 1024
MAX_ROWS = 1000

_KNOWN = frozenset(FEATURES)


class BadRequest(WebError):
    """A client error; Faust's view answers it as JSON {"error": …, "errors": [...]}."""

    def __init__(self, status: int, message: str, errors: list[dict] | None = None) -> None:
        super().__init__(message, code=status, **({"errors": errors} if errors else {}))


def parse(body: bytes) -> tuple[np.ndarray, bool]:
    """The rows as a (n, len(FEATURES)) array, and whether the request was a list."""
    if len(body) > MAX_BODY_BYTES:
        raise BadRequest(413, f"body over {MAX_BODY_BYTES} bytes")
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        payload = _lenient(body, exc)
    many = isinstance(payload, list)
    rows = payload if many else [payload]
    if many and not rows:
        raise BadRequest(422, "empty list: give at least one features object")
    if len(rows) > MAX_ROWS:
        raise BadRequest(413, f"{len(rows)} rows: at most {MAX_ROWS} per request")
    values, errors = [], []
    for i, row in enumerate(rows):
        where = {"row": i} if many else {}
        if isinstance(row, dict) and row.keys() == _KNOWN:  # the fast path
            vector = [row[name] for name in FEATURES]
            if all(type(v) is float or type(v) is int for v in vector):
                values.append(vector)
                continue
        errors.extend({**where, **error} for error in _field_errors(row))
    if not errors:
        matrix = np.asarray(values, dtype=np.float64)
        for i, j in np.argwhere(~np.isfinite(matrix)):  # NaN or Infinity from lenient JSON
            where = {"row": int(i)} if many else {}
            errors.append({**where, "field": FEATURES[j], "error": "not finite"})
    if errors:
        raise BadRequest(422, f"{len(errors)} invalid feature value(s)", errors[:100])
    return matrix, many


def _lenient(body: bytes, error: Exception) -> object:
    """JSON with NaN, Infinity, 1e999 or integers past 64 bits (Python's json.dumps writes
    them): parsed, numbers as floats, so that the offending fields get a 422 naming them;
    anything else is a 400."""
    try:
        return json.loads(body, parse_int=float)
    except (ValueError, RecursionError):
        raise BadRequest(400, f"invalid JSON: {error}") from None


def _field_errors(row: object) -> list[dict]:
    if not isinstance(row, dict):
        return [{"field": None, "error": "expected an object of features"}]
    errors = [{"field": name, "error": "unknown feature"} for name in sorted(set(row) - _KNOWN)]
    for name in FEATURES:
        if name not in row:
            errors.append({"field": name, "error": "missing"})
        elif isinstance(row[name], bool) or not isinstance(row[name], int | float):
            errors.append({"field": name,
                           "error": f"expected a number, got {type(row[name]).__name__}"})
        elif not math.isfinite(row[name]):
            errors.append({"field": name, "error": "not finite"})
    return errors
