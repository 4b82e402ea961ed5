"""A local Stripe: Stripe's REST API (the parts bonestore uses), a hosted checkout page
a person can pay in a browser, signed webhooks, and a ``/_dev`` API for tests.

    from bonestore_infra.stripe_emulator import StripeEmulator
    emu = StripeEmulator(port=0, webhook_url="http://127.0.0.1:3000/webhooks/stripe")
    emu.start()
    client = stripe.StripeClient("sk_test_emulator", base_addresses={"api": emu.url})

See docs/stripe-emulator.md.
"""

from __future__ import annotations

from .server import DEFAULT_PORT, DEFAULT_WEBHOOK_SECRET, StripeEmulator
from .webhooks import signature_header

__all__ = ["DEFAULT_PORT", "DEFAULT_WEBHOOK_SECRET", "StripeEmulator", "signature_header"]
