"""Admin authorization: off without a configured token, 401 without one, 403 with a wrong one."""

from __future__ import annotations

from dataclasses import replace

import pytest

import app.admin as admin
from app.predict import BadRequest


class Request:
    def __init__(self, authorization: str | None = None) -> None:
        self.headers = {"Authorization": authorization} if authorization is not None else {}


@pytest.fixture
def token(monkeypatch):
    monkeypatch.setattr(admin, "settings", replace(admin.settings, admin_token="s3cret-token"))
    return "s3cret-token"


def status(request: Request) -> int | None:
    try:
        admin.authorize(request)
    except BadRequest as exc:
        return exc.code
    return None


def test_admin_is_off_without_a_configured_token(monkeypatch):
    monkeypatch.setattr(admin, "settings", replace(admin.settings, admin_token=""))
    assert status(Request("Bearer ")) == 403
    assert status(Request("Bearer anything")) == 403


@pytest.mark.parametrize("header, code", [
    (None, 401), ("", 401), ("Bearer", 401), ("Bearer   ", 401), ("Basic czNjcmV0", 401),
    ("Bearer wrong", 403), ("Bearer s3cret-token-and-more", 403), ("Bearer s3cret-token", None),
    ("bearer s3cret-token", None),
])
def test_the_bearer_token_is_checked(token, header, code):
    assert status(Request(header)) == code


def test_the_token_stays_out_of_the_settings_repr(token):
    assert token not in repr(admin.settings)
