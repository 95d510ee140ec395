"""Validation of POST /predict bodies, without a worker: every bad body is a 4xx."""

from __future__ import annotations

import orjson
import pytest

from app.predict import MAX_BODY_BYTES, MAX_ROWS, BadRequest, parse
from models.features import FEATURES

ROW = {name: 0.5 for name in FEATURES}


def rejected(body: bytes) -> BadRequest:
    with pytest.raises(BadRequest) as info:
        parse(body)
    return info.value


def test_one_row_and_a_list_become_matrices():
    matrix, many = parse(orjson.dumps(ROW))
    assert matrix.shape == (1, len(FEATURES)) and not many
    matrix, many = parse(orjson.dumps([ROW, {**ROW, "rv_10": 2}]))
    assert matrix.shape == (2, len(FEATURES)) and many
    assert matrix[1, FEATURES.index("rv_10")] == 2.0


@pytest.mark.parametrize("body", [b"", b"{", b"{'rv_10': 1}", b"\xff\xfe", b"[" * 100_000])
def test_bad_json_is_400(body):
    assert rejected(body).code == 400


def test_field_errors_are_422_with_every_field_named():
    row = {**ROW, "rv_10": "1", "rv_30": None, "rv_60": True, "bogus": 1}
    del row["rv_300"]
    exc = rejected(orjson.dumps([ROW, row]))
    assert exc.code == 422
    errors = {e["field"]: e["error"] for e in exc.extra_context["errors"]}
    assert all(e["row"] == 1 for e in exc.extra_context["errors"])
    assert errors == {
        "rv_10": "expected a number, got str", "rv_30": "expected a number, got NoneType",
        "rv_60": "expected a number, got bool", "rv_300": "missing", "bogus": "unknown feature",
    }


@pytest.mark.parametrize("value", [b"NaN", b"Infinity", b"-Infinity", b"1e999", b"9" * 400])
def test_non_finite_numbers_are_422(value):
    exc = rejected(orjson.dumps(ROW).replace(b'"rv_10":0.5', b'"rv_10":' + value))
    assert exc.code == 422
    assert exc.extra_context["errors"] == [{"field": "rv_10", "error": "not finite"}]


@pytest.mark.parametrize("payload", [[], [1], "x", 3])
def test_not_objects_are_422(payload):
    assert rejected(orjson.dumps(payload)).code == 422


def test_too_big_is_413():
    assert rejected(orjson.dumps([ROW] * (MAX_ROWS + 1))).code == 413
    assert rejected(b" " * (MAX_BODY_BYTES + 1)).code == 413
    parse(orjson.dumps([ROW] * MAX_ROWS))  # the limit itself is fine
