"""Signed tokens: verifiable without storage, bound to their kind, tamper-evident."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from hiring.mail.errors import InvalidToken, TokenExpired
from hiring.mail.tokens import (
    keyed_id,
    make_token,
    reply_address,
    token_from_address,
    verify_token,
)

SECRET = "a-test-secret-of-enough-length"


def test_round_trip_is_stable_and_address_safe():
    token = make_token("reply", "app-7", SECRET)
    assert token == make_token("reply", "app-7", SECRET)
    assert verify_token(token, "reply", SECRET) == "app-7"
    assert token == token.lower() and set(token) <= set("abcdefghijklmnopqrstuvwxyz234567.")
    # Mail systems that upper-case addresses do not break it.
    assert verify_token(token.upper(), "reply", SECRET) == "app-7"


def test_wrong_kind_secret_or_any_change_is_refused():
    token = make_token("reply", "app-7", SECRET)
    with pytest.raises(InvalidToken, match="another purpose"):
        verify_token(token, "unsubscribe", SECRET)
    with pytest.raises(InvalidToken):
        verify_token(token, "reply", SECRET + "x")
    forged = make_token("reply", "app-8", SECRET).split(".")[0] + "." + token.split(".")[1]
    with pytest.raises(InvalidToken):
        verify_token(forged, "reply", SECRET)
    with pytest.raises(InvalidToken, match="malformed"):
        verify_token("not a token!", "reply", SECRET)


def test_expiry_is_signed_and_checked_against_the_given_time():
    ends = datetime(2026, 12, 10, tzinfo=UTC)
    token = make_token("slot", "interview-7:slot-2", SECRET, expires_at=ends)
    before = ends - timedelta(seconds=1)
    assert verify_token(token, "slot", SECRET, now=before) == "interview-7:slot-2"
    with pytest.raises(TokenExpired, match="expired at 2026-12-10"):
        verify_token(token, "slot", SECRET, now=ends)
    subject, expiry, mac = token.split(".")
    later = make_token("slot", "interview-7:slot-2", SECRET, expires_at=ends + timedelta(days=9))
    with pytest.raises(InvalidToken):  # moving the expiry breaks the signature
        verify_token(f"{subject}.{later.split('.')[1]}.{mac}", "slot", SECRET, now=before)


def test_short_secret_and_bad_kind_are_refused():
    with pytest.raises(ValueError, match="at least 16 bytes"):
        make_token("reply", "app-7", "short")
    with pytest.raises(ValueError, match="kind"):
        make_token("Reply Token", "app-7", SECRET)


def test_reply_addresses():
    token = make_token("reply", "app-7", SECRET)
    address = reply_address(token, "reply.acme.example")
    assert address == f"reply+{token}@reply.acme.example"
    assert token_from_address(address) == token
    assert token_from_address(f"<REPLY+{token.upper()}@Reply.Acme.Example>") == token
    assert token_from_address("sam@example.org") is None
    assert token_from_address(f"unsubscribe+{token}@x.example") is None
    with pytest.raises(ValueError, match="over the 64 allowed"):
        reply_address(make_token("reply", "x" * 60, SECRET), "reply.acme.example")


def test_keyed_ids_are_stable_and_need_the_secret():
    assert keyed_id("message-id", "job-1/app-7/outreach", SECRET) == keyed_id(
        "message-id", "job-1/app-7/outreach", SECRET
    )
    assert keyed_id("message-id", "job-1/app-7/outreach", SECRET) != keyed_id(
        "message-id", "job-1/app-7/outreach", SECRET + "!"
    )
