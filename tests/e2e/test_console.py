"""The support console page in real headless Chromium, against the local server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import watch_csp
from tests.integration.test_support_api import BEFORE_NPN, store_order

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


def seeded(local_stack: Any, group: str) -> Any:
    return next(u for u in local_stack.staff_users if group in u.groups)


def sign_in(page: Any, local_stack: Any, group: str) -> None:
    """Sign in as the stack's seeded user of ``group``, through the pool, as staff do."""
    user = seeded(local_stack, group)
    page.fill("#username", user.username)
    page.fill("#password", user.password)
    page.click("#signin-form button[type=submit]")
    page.wait_for_selector(f"#who-name:has-text('{user.username}')")


def test_order_lookup_shows_why_now_differs(page: Any, local_stack: Any) -> None:
    order = store_order(
        [("TRUEOSTEO-120", 1)],
        {"country": "CA"},
        email="Console.Customer@Example.com",
        decided_at=BEFORE_NPN,
    )
    sign_in(page, local_stack, "support")
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


def test_orders_by_email_then_open_one(page: Any, local_stack: Any) -> None:
    order = store_order([("ORP-EBOOK", 1)], {"country": "US"}, email="Console.List@Example.com")
    sign_in(page, local_stack, "ops")
    page.fill("#email", "console.list@example.com")
    page.click("#orders-form button")
    link = page.locator(f"#orders-table .order-link[data-order='{order['order_id']}']")
    link.click()
    page.wait_for_selector("#order-title-id")
    assert page.text_content("#order-title-id") == order["order_id"]
    assert "same decision" in page.text_content("#now-verdict")


def test_check_eligibility_shows_the_reason_and_the_rules(page: Any, local_stack: Any) -> None:
    sign_in(page, local_stack, "support")
    page.fill("#country", "au")
    page.fill("#sku", "TRUEOSTEO-120")
    page.fill("#qty", "5")
    page.click("#check-form button")
    page.wait_for_selector("#check-verdict")
    assert "Not eligible" in page.text_content("#check-verdict")
    assert page.locator("#check-table [data-rule='au-three-months-supply']").count() == 1
    trace = page.text_content(".trace[data-sku='TRUEOSTEO-120']")
    assert "au-three-months-supply" in trace and "match" in trace


def test_check_takes_the_first_address_line_so_a_po_box_counts(page: Any, local_stack: Any) -> None:
    sign_in(page, local_stack, "support")
    for line1, express in (("1 Main St", True), ("PO Box 12", False)):
        page.fill("#line1", line1)
        page.fill("#city", "New York")
        page.fill("#country", "US")
        page.fill("#subdivision", "NY")
        page.fill("#postal-code", "10001")
        page.fill("#sku", "DENSERCISE-DVD")
        page.click("#check-form button")
        page.wait_for_selector(f"#check-verdict:has-text('{line1}')")
        assert ("Express" in page.text_content("#check-methods")) is express, line1
        # Where it is not offered, the page says why, with the rule that took it away.
        withdrawn = page.locator(".unavailable-method[data-method='express'] .reason")
        assert (withdrawn.count() == 0) is express, line1


def test_errors_are_shown_from_the_contract_body(page: Any, local_stack: Any) -> None:
    page.fill("#order-id", "ord_x")
    page.click("#order-form button")
    assert "Sign in first" in page.text_content("#error")

    sign_in(page, local_stack, "warehouse")
    assert "(warehouse)" in page.text_content("#who-groups")
    page.fill("#order-id", "ord_x")
    page.click("#order-form button")
    page.wait_for_selector("#error:has-text('403')")
    assert "forbidden" in page.text_content("#error")
    page.click("#sign-out")

    sign_in(page, local_stack, "support")
    page.fill("#order-id", "ord_missing")
    page.click("#order-form button")
    page.wait_for_selector("#error:has-text('order_not_found')")
    assert "No order with id 'ord_missing'." in page.text_content("#error")


def test_the_api_refusing_the_session_signs_out(page: Any, local_stack: Any) -> None:
    """A 401 (token expired or revoked server-side) sends the agent back to the sign-in form."""
    sign_in(page, local_stack, "support")
    page.route(
        "**/support/orders/*",
        lambda route: route.fulfill(
            status=401,
            content_type="application/json",
            body='{"error": {"code": "unauthorized", "message": "A valid bearer token is required."}}',
        ),
    )
    page.fill("#order-id", "ord_x")
    page.click("#order-form button")
    page.wait_for_selector("#error:has-text('401')")
    assert page.is_visible("#signin-form") and not page.is_visible("#who-panel")
    assert "sign in again" in page.text_content("#signin-status")


def test_sign_in_failures_and_sign_out(page: Any, local_stack: Any) -> None:
    page.fill("#username", "support")
    page.fill("#password", "Not-the-password-1")
    page.click("#signin-form button[type=submit]")
    page.wait_for_selector("#signin-status:has-text('Wrong username or password')")
    assert not page.is_visible("#who-panel")

    sign_in(page, local_stack, "support")
    # The ID token is kept in memory only.
    assert page.evaluate("localStorage.length + sessionStorage.length") == 0
    assert page.input_value("#password") == ""
    page.click("#sign-out")
    assert page.is_visible("#signin-form")
    page.fill("#order-id", "ord_x")
    page.click("#order-form button")
    assert "Sign in first" in page.text_content("#error")
    page.reload()
    assert page.is_visible("#signin-form")


def test_a_console_without_its_sign_in_config_says_so(page: Any) -> None:
    page.route("**/static/console-config.json", lambda route: route.fulfill(status=404))
    page.fill("#username", "support")
    page.fill("#password", "whatever-Password-1")
    page.click("#signin-form button[type=submit]")
    page.wait_for_selector("#signin-status:has-text('Sign-in is not set up here')")


def test_a_new_staff_member_sets_a_password_at_first_sign_in(page: Any, local_stack: Any) -> None:
    """As an administrator creates staff in AWS: a temporary password, changed on first use."""
    pool = local_stack.user_pool
    cognito = pool.client()
    cognito.admin_create_user(
        UserPoolId=pool.pool_id,
        Username="new-agent",
        TemporaryPassword="Temporary-Pass-1",
        MessageAction="SUPPRESS",
    )
    cognito.admin_add_user_to_group(
        UserPoolId=pool.pool_id, Username="new-agent", GroupName="support"
    )
    page.fill("#username", "new-agent")
    page.fill("#password", "Temporary-Pass-1")
    page.click("#signin-form button[type=submit]")
    page.wait_for_selector("#new-password-form:not([hidden])")
    page.fill("#new-password", "Chosen-Password-42")
    page.click("#new-password-form button[type=submit]")
    page.wait_for_selector("#who-name:has-text('new-agent')")
    page.fill("#country", "au")
    page.fill("#sku", "TRUEOSTEO-120")
    page.click("#check-form button")
    page.wait_for_selector("#check-verdict")


def test_customer_text_is_never_interpreted_as_html(page: Any, local_stack: Any) -> None:
    email = "x<img src=x onerror=window.pwned=1>@example.com"
    order = store_order([("ORP-EBOOK", 1)], {"country": "US"}, email=email)
    sign_in(page, local_stack, "support")
    page.fill("#order-id", order["order_id"])
    page.click("#order-form button")
    page.wait_for_selector("#order-title-id")
    assert email in page.text_content("#result")
    assert page.locator("#result img").count() == 0
    assert page.evaluate("window.pwned") is None


def _open_from_held_queue(page: Any, order_id: str) -> None:
    page.click("#held-button")
    link = f"#orders-table .order-link[data-order='{order_id}']"
    page.wait_for_selector("#orders-table, #no-orders")
    for _ in range(50):  # the queue is oldest first: page on to the newest
        if page.locator(link).count():
            break
        page.click("#more-orders")
        page.wait_for_selector("#orders-table")
    page.click(link)
    page.wait_for_selector("#order-title-id")


def test_support_resolves_held_orders_from_the_queue(
    page: Any, local_stack: Any, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from bonestore.api.deps import override, rules_engine
    from bonestore_infra.bench_checkout import Shop
    from tests.integration.test_support_resolutions import held_order
    from tests.unit.test_resolutions import engine_without

    shop = Shop(local_stack)
    embargoed, later = held_order(shop), held_order(shop)
    sign_in(page, local_stack, "support")
    with caplog.at_level(logging.INFO, logger="bonestore.audit"):
        _open_from_held_queue(page, embargoed)
        assert page.text_content("#order-status") == "held"
        why = page.text_content("#hold-table")
        assert "embargo-cuba" in why and "31 CFR part 515" in why
        assert page.text_content("#billing-country") == "CU"

        page.fill("#action-reason", "customer asked to ship anyway")
        page.click("#release-button")
        page.wait_for_selector("#error-details")
        assert "still_not_shippable" in page.text_content("#error")
        assert "embargo-cuba" in page.text_content("#error-details")
        assert page.text_content("#order-status") == "held"

        page.fill("#action-reason", "embargoed: refunded")
        page.click("#refund-button")
        page.wait_for_selector("#order-status:has-text('refunded')")

        with override(rules_engine, lambda: engine_without("embargo-cuba")):
            page.fill("#order-id", later)
            page.click("#order-form button")
            page.wait_for_selector(f"#order-title-id:has-text('{later}')")
            page.fill("#action-reason", "the embargo was lifted")
            page.click("#release-button")
            page.wait_for_selector("#order-status:has-text('paid')")
    audited = {
        (r.action, r.outcome, r.order_ids[0])
        for r in caplog.records
        if r.name == "bonestore.audit" and r.action.endswith((".release", ".refund"))
    }
    assert ("support.order.refund", "ok", embargoed) in audited
    assert ("support.order.release", "ok", later) in audited
    assert ("support.order.release", "still_not_shippable", embargoed) in audited
