"""The customer storefront in real headless Chromium: availability up front, then a
full purchase through the Stripe emulator's hosted page, back to the thank-you."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import watch_csp

pytestmark = pytest.mark.e2e


@pytest.fixture
def page(browser: Any, local_stack: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    refused = watch_csp(page)
    response = page.goto(f"{local_stack.api_url}/")
    assert "default-src 'self'" in response.headers["content-security-policy"]
    yield page
    context.close()
    assert errors == [], errors
    assert refused == [], refused  # the pages work under their CSP


def choose_country(page: Any, code: str, name: str) -> None:
    page.select_option("#country", code)
    page.wait_for_selector(f"#products-status:has-text('{name}')")


def test_canada_shows_trueosteo_unavailable_with_the_reason(page: Any) -> None:
    choose_country(page, "CA", "Canada")
    osteo = page.locator("#product-TRUEOSTEO-120")
    assert "Not available in Canada" in osteo.text_content()
    reason = osteo.locator(".reason[data-rule='ca-no-supplements-npn']")
    assert "Natural Product Number" in reason.text_content()
    assert page.locator("#add-TRUEOSTEO-120").is_disabled()
    assert "$49.95" in osteo.text_content()

    ebook = page.locator("#product-ORP-EBOOK")
    assert "Available in Canada" in ebook.text_content()
    assert ebook.locator(".reason").count() == 0
    assert page.locator("#add-ORP-EBOOK").is_enabled()

    # The choice is remembered across visits.
    page.reload()
    page.wait_for_selector("#products-status:has-text('Canada')")
    assert page.input_value("#country") == "CA"


def test_quantity_limit_and_live_cart_check(page: Any) -> None:
    choose_country(page, "AU", "Australia")
    osteo = page.locator("#product-TRUEOSTEO-120")
    assert "Limit: 3 per order" in osteo.text_content()
    assert page.get_attribute("#qty-TRUEOSTEO-120", "max") == "3"
    page.fill("#qty-TRUEOSTEO-120", "7")
    page.click("#add-TRUEOSTEO-120")
    assert page.input_value("#cart-qty-TRUEOSTEO-120") == "3"
    page.wait_for_selector("#cart-verdict:has-text('Everything in your cart can ship')")
    assert "Standard shipping: $14.95" in page.text_content("#shipping-methods")

    # Moving the cart to Canada: the line says why, and checkout is blocked.
    choose_country(page, "CA", "Canada")
    page.wait_for_selector('#cart-verdict:has-text("can\'t ship to Canada")')
    line = page.locator("#line-TRUEOSTEO-120")
    assert "Natural Product Number" in line.text_content()
    assert page.locator("#checkout").is_disabled()
    page.click("#remove-TRUEOSTEO-120")
    assert page.locator("#line-TRUEOSTEO-120").count() == 0
    assert page.is_visible("#cart-empty")


def test_full_purchase_through_the_hosted_page(page: Any, local_stack: Any) -> None:
    from bonestore_infra.bench_checkout import Shop

    choose_country(page, "US", "United States")
    page.fill("#subdivision", "NY")
    page.fill("#postal-code", "10001")
    page.click("#add-TRUEOSTEO-120")
    page.click("#add-ORP-EBOOK")
    page.wait_for_selector("#cart-verdict:has-text('Everything in your cart can ship')")
    assert page.text_content("#cart-subtotal") == "Subtotal: $146.95"
    page.fill("#email", "storefront.buyer@example.com")

    created: list[dict[str, Any]] = []

    def record(route: Any) -> None:
        response = route.fetch()
        assert response.status == 201, response.text()
        created.append(response.json())
        route.fulfill(response=response)

    page.route("**/checkout", record)
    page.click("#checkout")

    page.wait_for_url(f"{local_stack.stripe_url}/**")
    page.screenshot(path="/tmp/storefront-hosted.png", full_page=True)
    assert len(created) == 1
    order_id = created[0]["order_id"]
    assert page.input_value("#email") == "storefront.buyer@example.com"
    page.fill("#name", "Jane Buyer")
    page.fill("#line1", "1 Main St")
    page.fill("#city", "New York")
    page.fill("#state", "NY")
    page.fill("#postal_code", "10001")
    page.select_option("#country", "US")
    page.fill("#card_number", "4242 4242 4242 4242")
    page.click("#pay")

    page.wait_for_url(f"{local_stack.api_url}/**")
    page.wait_for_selector("#message:has-text('Thank you for your order!')")
    assert order_id in page.text_content("#message")
    assert page.locator("#cart-lines li").count() == 0
    page.screenshot(path="/tmp/storefront-paid.png", full_page=True)

    order = Shop(local_stack).wait_status(order_id, "paid")
    assert order["status"] == "paid"
    assert order["email"] == "storefront.buyer@example.com"
    assert sorted(line["sku"] for line in order["items"]) == ["ORP-EBOOK", "TRUEOSTEO-120"]


def test_checkout_errors_show_the_api_message(page: Any, local_stack: Any) -> None:
    from bonestore_infra.bench_checkout import Shop

    shop = Shop(local_stack)
    sku = shop.clone("BONE-APPETIT-BOOK", stock=1)
    page.reload()
    choose_country(page, "US", "United States")
    page.click(f"#add-{sku}")
    page.wait_for_selector("#cart-verdict")
    shop.set_stock(sku, 0)
    page.click("#checkout")
    page.wait_for_selector("#message.error")
    text = page.text_content("#message")
    assert "out_of_stock" not in text
    assert f"Not enough stock for {sku}" in text
    assert page.locator("#message[role=alert]").count() == 1


def test_api_text_is_never_interpreted_as_html(page: Any, local_stack: Any) -> None:
    page.evaluate(
        "localStorage.setItem('bonestore.cart', JSON.stringify("
        "[{sku: '<img src=x onerror=window.pwned=1>', quantity: 1}]))"
    )
    page.reload()
    page.wait_for_selector("#check-error")
    assert page.locator("#cart img").count() == 0
    assert page.evaluate("window.pwned") is None
