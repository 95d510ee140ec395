"""Property test: no request body makes /predict's validation fail in an unplanned way.

Every body is either a matrix of finite features or a client error (400, 413,
422) with a message: never an exception that would become a 500.
"""

from __future__ import annotations

import json

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.features import FEATURES

numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.integers(),
    st.integers(-(2**63), 2**63 - 1), st.booleans(), st.none(), st.text(max_size=5),
    st.lists(st.floats(), max_size=2),
)


@st.composite
def rows(draw) -> dict:
    row = {name: 0.5 for name in FEATURES}
    for name in draw(st.lists(st.sampled_from(FEATURES), max_size=4, unique=True)):
        if draw(st.booleans()):
            del row[name]
        else:
            row[name] = draw(numbers)
    for extra in draw(st.lists(st.text(max_size=8), max_size=2)):
        row[extra] = draw(numbers)
    return row


def _dump(payload) -> bytes:
    return json.dumps(payload, allow_nan=True).encode()


#: a full row whose first feature is an integer too large for a float
HUGE_INT = _dump({**{name: 0.5 for name in FEATURES}, FEATURES[0]: 10**400})


bodies = st.one_of(
    rows().map(_dump),
    st.lists(rows(), max_size=5).map(_dump),
    st.binary(max_size=200),
    st.sampled_from([b"", b"null", b"[]", b"{}", b"[[]]", b'"x"', b"1e999", b"[" * 5000,
                     b'{"rv_10": 1e999}', b"NaN", b"-Infinity", HUGE_INT]),
    st.recursive(st.none() | st.booleans() | st.floats() | st.text(max_size=4),
                 lambda inner: st.lists(inner, max_size=3)
                 | st.dictionaries(st.sampled_from(list(FEATURES[:3]) + ["x"]), inner,
                                   max_size=3), max_leaves=8).map(_dump),
)


@settings(max_examples=10_000, deadline=None, suppress_health_check=list(HealthCheck))
@given(bodies)
def test_every_body_is_a_matrix_of_finite_features_or_a_client_error(body):
    from app.predict import BadRequest, parse

    try:
        matrix, _many = parse(body)
    except BadRequest as exc:
        assert exc.code in (400, 413, 422) and exc.detail
        return
    assert matrix.shape[1] == len(FEATURES) and 1 <= matrix.shape[0] <= 1000
    assert np.isfinite(matrix).all()
