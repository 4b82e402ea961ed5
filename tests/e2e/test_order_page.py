"""From the storefront through the emulator's hosted page to the order page, against the
real server (no routes faked): a Canadian book + ebook paid and then shipped (tracking
on the same page), a held order (billing
country under embargo) and a bogus return parameter. The storefront's own behaviour
(forms, reasons, layout) is tested in test_storefront.py (the ui engineer's file)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import watch_csp
from tests.helpers import Http
from tests.staff_tokens import staff_token

pytestmark = pytest.mark.e2e

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


@pytest.fixture
def page(browser: Any, local_stack: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(20_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    refused = watch_csp(page)
    page.goto(f"{local_stack.api_url}/")
    page.wait_for_selector("#products-status:has-text('Showing')")
    yield page
    context.close()
    assert errors == [], errors
    assert refused == [], refused


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"order-page-{name}.png"), full_page=True)


def canadian_checkout(page: Any, local_stack: Any, email: str) -> None:
    """A book and an ebook to Montréal, standard shipping, to the hosted payment page."""
    page.select_option("#country", "CA")
    page.wait_for_selector("#products-status:has-text('Canada')")
    page.click("#add-BONE-APPETIT-BOOK")
    page.click("#add-ORP-EBOOK")
    page.fill("#name", "Jeanne Tremblay")
    page.fill("#line1", "100 Rue Sainte-Catherine O")
    page.fill("#city", "Montréal")
    page.select_option("#subdivision", "CA-QC")
    page.fill("#postal-code", "h2x 1y4")
    page.wait_for_selector("#method-standard:enabled")
    page.check("#method-standard")
    page.fill("#email", email)
    page.wait_for_selector("#checkout:enabled")
    page.click("#checkout")
    page.wait_for_url(f"{local_stack.stripe_url}/**")
    # Stripe's page shows the address the rules decided on, read-only.
    fixed = page.text_content("#fixed-shipping")
    assert "100 Rue Sainte-Catherine O" in fixed and "H2X 1Y4" in fixed


def pay(page: Any, *, billing_country: str, line1: str, city: str) -> None:
    page.fill("#name", "Jeanne Tremblay")
    page.fill("#line1", line1)
    page.fill("#city", city)
    page.select_option("#country", billing_country)
    page.fill("#card_number", "4242 4242 4242 4242")
    page.click("#pay")
    page.wait_for_url("**/order?paid=*")


def test_canadian_book_and_ebook_paid_and_the_order_page_says_so(
    page: Any, local_stack: Any
) -> None:
    canadian_checkout(page, local_stack, "jeanne@example.ca")
    if page.locator("#postal_code").count():
        page.fill("#postal_code", "H2X 1Y4")
    pay(page, billing_country="CA", line1="100 Rue Sainte-Catherine O", city="Montréal")
    page.wait_for_selector("#order[data-status=paid]")
    assert "payment went through" in page.text_content("#order-title").lower()
    assert "tracking number" in page.text_content("#order-status")
    assert "Bone Appetit" in page.text_content("#order-details") or "×" in page.text_content(
        "#order-details"
    )
    assert "H2X 1Y4" in page.text_content("#order-details")
    # The address on its lines (it once printed "[object HTMLBRElement]" between them).
    address_lines = page.inner_text("#order-details address").splitlines()
    assert address_lines[:2] == ["Jeanne Tremblay", "100 Rue Sainte-Catherine O"]
    assert address_lines[-1] == "Canada"  # named as the storefront names it, not "CA"
    # As Canada Post addresses it: "Montréal QC H2X 1Y4", not the ISO code "CA-QC".
    assert address_lines[-2] == "Montréal QC H2X 1Y4"
    # Paid: the cart is empty now.
    assert page.evaluate("localStorage.getItem('bonestore.cart')") in ("[]", None)
    shot(page, "paid")

    # The warehouse ships it: the same page, opened again, shows the tracking.
    order_id = page.text_content("#order-number")
    shipment = {"carrier": "Canada Post", "tracking_number": "CP123456789CA"}
    token = staff_token("warehouse", username="wes-warehouse")
    shipped = Http(local_stack.api_url).post(
        f"/admin/orders/{order_id}/shipments", shipment, token=token
    )
    assert shipped.status == 200, shipped.body
    page.reload()
    page.wait_for_selector("#order[data-status=fulfilled]")
    assert page.text_content("#order-title") == "Your order is on its way"
    assert "shipped on" in page.text_content("#order-status")
    tracking = page.text_content(".shipments")
    assert "Canada Post: CP123456789CA" in tracking
    assert page.get_attribute(".shipments time", "datetime") == shipped.json()["shipments"][0]["at"]
    assert f", shipped {page.text_content('.shipments time')}" in tracking
    shot(page, "shipped")


def test_a_held_orders_page_says_why_and_what_we_will_do(page: Any, local_stack: Any) -> None:
    canadian_checkout(page, local_stack, "held@example.ca")
    pay(page, billing_country="CU", line1="Calle 23", city="Havana")
    page.wait_for_selector("#order[data-status=held]")
    status = page.text_content("#order-status")
    # Billed to Cuba: a sanction, which no review lifts, so a refund and not "yet".
    assert "can't complete this order" in status and "yet" not in status
    assert "refund" in status and "support" in status
    shot(page, "held")


def test_a_bogus_paid_parameter_shows_nothing_of_anyones_order(page: Any, local_stack: Any) -> None:
    page.goto(f"{local_stack.api_url}/?paid=cs_test_bogus")
    page.wait_for_url("**/order?paid=cs_test_bogus")
    page.wait_for_selector("#order[aria-busy=false]")
    assert page.text_content("#order-title") == "We could not find this order"
    assert page.locator("#order-number").count() == 0
    # A made-up order link gets the server's 404, the same page.
    page.goto(f"{local_stack.api_url}/order#id=ord_0000000000000000000000000000&token=forged")
    page.wait_for_selector("#order[aria-busy=false]")
    assert page.text_content("#order-title") == "We could not find this order"
