"""The support console page in real headless Chromium, against the local server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import watch_csp
from tests.integration.test_support_api import BEFORE_NPN, staff_token, store_order

pytestmark = pytest.mark.e2e


@pytest.fixture
def page(browser: Any, local_stack: Any) -> Iterator[Any]:
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(15_000)
    refused = watch_csp(page)
    response = page.goto(f"{local_stack.api_url}/console")
    assert "default-src 'self'" in response.headers["content-security-policy"]
    yield page
    context.close()
    assert refused == [], refused  # the pages work under their CSP


def use_token(page: Any, token: str) -> None:
    page.fill("#token", token)
    page.click("#token-form button[type=submit]")
    page.wait_for_selector("#token-status:has-text('Token set')")


def test_order_lookup_shows_why_now_differs(page: Any) -> None:
    order = store_order(
        [("TRUEOSTEO-120", 1)],
        {"country": "CA"},
        email="Console.Customer@Example.com",
        decided_at=BEFORE_NPN,
    )
    use_token(page, staff_token("support"))
    page.fill("#order-id", order["order_id"])
    page.click("#order-form button")
    page.wait_for_selector("#order-title-id")
    assert page.text_content("#order-title-id") == order["order_id"]
    assert page.text_content("#order-status") == "paid"
    verdict = page.text_content("#now-verdict")
    assert "Now differs from at payment" in verdict
    assert "ca-no-supplements-npn" in verdict
    rows = page.locator("#eligibility-table tbody tr")
    assert rows.count() == 3
    assert "no" in rows.nth(2).text_content()
    assert page.locator(".trace[data-sku='TRUEOSTEO-120']").count() == 1


def test_orders_by_email_then_open_one(page: Any) -> None:
    order = store_order([("ORP-EBOOK", 1)], {"country": "US"}, email="Console.List@Example.com")
    use_token(page, staff_token("ops"))
    page.fill("#email", "console.list@example.com")
    page.click("#orders-form button")
    link = page.locator(f"#orders-table .order-link[data-order='{order['order_id']}']")
    link.click()
    page.wait_for_selector("#order-title-id")
    assert page.text_content("#order-title-id") == order["order_id"]
    assert "same decision" in page.text_content("#now-verdict")


def test_check_eligibility_shows_the_reason_and_the_rules(page: Any) -> None:
    use_token(page, staff_token("support"))
    page.fill("#country", "au")
    page.fill("#sku", "TRUEOSTEO-120")
    page.fill("#qty", "5")
    page.click("#check-form button")
    page.wait_for_selector("#check-verdict")
    assert "Not eligible" in page.text_content("#check-verdict")
    assert page.locator("#check-table [data-rule='au-three-months-supply']").count() == 1
    trace = page.text_content(".trace[data-sku='TRUEOSTEO-120']")
    assert "au-three-months-supply" in trace and "match" in trace


def test_errors_are_shown_from_the_contract_body(page: Any) -> None:
    page.fill("#order-id", "ord_x")
    page.click("#order-form button")
    assert "Paste a staff token first" in page.text_content("#error")

    use_token(page, staff_token("customer"))
    page.fill("#order-id", "ord_x")
    page.click("#order-form button")
    page.wait_for_selector("#error:has-text('403')")
    assert "forbidden" in page.text_content("#error")

    use_token(page, staff_token("support", expires_in=-5))
    page.click("#order-form button")
    page.wait_for_selector("#error:has-text('401')")

    use_token(page, staff_token("support"))
    page.fill("#order-id", "ord_missing")
    page.click("#order-form button")
    page.wait_for_selector("#error:has-text('order_not_found')")
    assert "No order with id 'ord_missing'." in page.text_content("#error")


def test_customer_text_is_never_interpreted_as_html(page: Any) -> None:
    email = "x<img src=x onerror=window.pwned=1>@example.com"
    order = store_order([("ORP-EBOOK", 1)], {"country": "US"}, email=email)
    use_token(page, staff_token("support"))
    page.fill("#order-id", order["order_id"])
    page.click("#order-form button")
    page.wait_for_selector("#order-title-id")
    assert email in page.text_content("#result")
    assert page.locator("#result img").count() == 0
    assert page.evaluate("window.pwned") is None
