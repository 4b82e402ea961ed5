"""Stripe's signature scheme, checked against the stripe SDK's own signer."""

from __future__ import annotations

import time

import pytest
import stripe
from hypothesis import given, settings
from hypothesis import strategies as st

from bonestore.adapters.webhook_signature import InvalidSignature, compute_signature, verify

pytestmark = pytest.mark.unit

SECRET = "whsec_unit_test_secret"
PAYLOAD = '{"id": "evt_1", "type": "checkout.session.completed", "data": {"object": {}}}'


def header(payload: str = PAYLOAD, secret: str = SECRET, timestamp: int | None = None) -> str:
    return stripe.WebhookSignature.generate_signature_header(payload, secret, timestamp)


def test_accepts_the_sdks_signature() -> None:
    assert verify(PAYLOAD.encode(), header(), SECRET) > 0


def test_matches_the_sdks_digest() -> None:
    now = int(time.time())
    assert f"v1={compute_signature(PAYLOAD.encode(), SECRET, now)}" in header(timestamp=now)


def test_any_of_several_v1_signatures_and_secrets() -> None:
    now = int(time.time())
    genuine = header(timestamp=now)
    mixed = f"t={now},v1={'0' * 64},{genuine.split(',')[1]},v0=deadbeef"
    assert verify(PAYLOAD.encode(), mixed, SECRET) == now
    assert verify(PAYLOAD.encode(), genuine, ["whsec_old", SECRET]) == now


@pytest.mark.parametrize(
    ("payload", "signature", "secret"),
    [
        (PAYLOAD.replace("evt_1", "evt_2"), header(), SECRET),  # tampered body
        (PAYLOAD, header(secret="whsec_other"), SECRET),  # another secret
        (PAYLOAD, header(timestamp=int(time.time()) - 301), SECRET),  # stale
        (PAYLOAD, header(timestamp=int(time.time()) + 3600), SECRET),  # from the future
        (PAYLOAD, None, SECRET),
        (PAYLOAD, "", SECRET),
        (PAYLOAD, "garbage", SECRET),
        (PAYLOAD, "t=abc,v1=00", SECRET),
        (PAYLOAD, f"t={int(time.time())}", SECRET),
        (PAYLOAD, f"t={int(time.time())},v0=abc", SECRET),
    ],
    ids=[
        "tampered",
        "other_secret",
        "stale",
        "future",
        "none",
        "empty",
        "garbage",
        "bad_t",
        "no_v1",
        "v0_only",
    ],
)
def test_refuses(payload: str, signature: str | None, secret: str) -> None:
    with pytest.raises(InvalidSignature) as caught:
        verify(payload.encode(), signature, secret)
    assert caught.value.code == "invalid_signature"
    assert caught.value.status == 400


def test_tolerance_edges() -> None:
    now = 1_700_000_000
    signed = header(timestamp=now)
    assert verify(PAYLOAD.encode(), signed, SECRET, now=now + 300) == now
    with pytest.raises(InvalidSignature):
        verify(PAYLOAD.encode(), signed, SECRET, now=now + 301)


def test_raw_bytes_not_reencoded_json() -> None:
    payload = '{"a":  "é"}'
    signed = header(payload)
    assert verify(payload.encode(), signed, SECRET)
    with pytest.raises(InvalidSignature):
        verify(b'{"a": "\\u00e9"}', signed, SECRET)


@settings(max_examples=50, deadline=None)
@given(
    body=st.text(max_size=200),
    secret=st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=40).map(
        lambda s: f"whsec_{s}"  # the SDK refuses blank secrets
    ),
)
def test_agrees_with_the_sdk(body: str, secret: str) -> None:
    signed = stripe.WebhookSignature.generate_signature_header(body, secret)
    assert verify(body.encode(), signed, secret)
    assert stripe.WebhookSignature.verify_header(body, signed, secret, tolerance=300)
