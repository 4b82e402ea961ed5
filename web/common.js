// What the storefront and the order page share: building DOM from text, money, the API
// client and the sentences a customer reads for each API error code.
"use strict";

window.Bonestore = (function () {
  const ORDER_KEY = "bonestore.lastOrder"; // sessionStorage: {order_id, order_token, stripe_session_id}
  const CART_KEY = "bonestore.cart";

  // Everything from the API goes on the page as text, never as HTML.
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  const SYMBOLS = { USD: "$", CAD: "CA$", AUD: "A$", EUR: "€", GBP: "£" };

  // Integer minor units only: no floating point in money.
  function money(m) {
    if (!m || !Number.isInteger(m.amount)) return "–";
    const abs = Math.abs(m.amount);
    const minor = abs % 100;
    const major = (abs - minor) / 100;
    const digits = String(major).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    const symbol = SYMBOLS[m.currency];
    const number = `${digits}.${String(minor).padStart(2, "0")}`;
    const sign = m.amount < 0 ? "-" : "";
    return symbol ? `${sign}${symbol}${number}` : `${sign}${number} ${m.currency}`;
  }

  async function api(method, path, body, headers) {
    let response;
    try {
      response = await fetch(path, {
        method,
        headers: Object.assign(body === undefined ? {} : { "Content-Type": "application/json" }, headers || {}),
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      return { ok: false, status: 0, error: { code: "network_error" } };
    }
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    if (!response.ok) {
      const error = (data && data.error && typeof data.error === "object") ? data.error : { code: "http_error" };
      return { ok: false, status: response.status, error };
    }
    return { ok: true, status: response.status, data };
  }

  function firstDetail(error) {
    const d = error && Array.isArray(error.details) ? error.details[0] : null;
    return d && typeof d === "object" ? d : {};
  }

  // The sentence a customer reads for an API error: never a code, an ISO term or a pattern.
  // ``context`` supplies what a sentence names: {country, postalLabel, postalExample, subdivisionLabel}.
  function errorSentence(error, context) {
    const c = context || {};
    const where = c.country || "this country";
    switch (error && error.code) {
      case "network_error":
        return "We could not reach the shop. Check your connection and try again.";
      case "invalid_country":
        return "Choose your country from the list.";
      case "invalid_subdivision":
        return `Choose your ${(c.subdivisionLabel || "region").toLowerCase()} from the list.`;
      case "invalid_postal_code":
        // A real code of another place ("96813 is a postal code in Hawaii, not in New
        // York"): the server's sentence says which; only a malformed code gets ours.
        if (firstDetail(error).place && error.message) return error.message;
        return `That doesn't look like a ${c.postalLabel || "postal code"} in ${where}` +
          (c.postalExample ? ` (for example ${c.postalExample}).` : ".");
      case "invalid_destination":
      case "shipping_address_required":
      case "invalid_address":
        return "Please check the shipping address: some of it is missing or too long.";
      case "invalid_email":
        return "Please check your email address.";
      case "invalid_quantity":
        return "Quantities must be whole numbers from 1 to 999.";
      case "unknown_sku":
        return "One of the products in your cart is no longer sold. Remove it to continue.";
      case "not_shippable":
        return "Some items in your cart can't be shipped to this address.";
      case "method_unavailable":
      case "invalid_shipping_method":
        return "That shipping method isn't available for this address. Choose another one.";
      case "out_of_stock":
        return "Sorry, something in your cart just sold out.";
      case "rate_limited": {
        // Which limit it was is in the details: say that one, with its number.
        const d = firstDetail(error);
        if (d.limit === "open_reservations")
          return `You already have ${d.held} checkouts open. Pay for one, or try again once they expire.`;
        if (d.limit === "units_per_sku")
          return `One customer may buy at most ${d.max} of a product at a time. Lower the quantity, or pay for an open checkout first.`;
        if (d.limit === "checkouts_per_minute")
          return "Too many checkouts were started in the last minute. Please wait a moment and try again.";
        return "Too many requests in a short time. Please wait a moment and try again.";
      }
      case "payload_too_large":
        return "Your cart is too large. Remove some items and try again.";
      case "order_not_found":
        return "We could not find this order.";
      default:
        return "Something went wrong on our side. Please try again in a moment.";
    }
  }

  function loadLastOrder() {
    try {
      const raw = JSON.parse(sessionStorage.getItem(ORDER_KEY) || "null");
      if (raw && typeof raw.order_id === "string" && typeof raw.order_token === "string") return raw;
    } catch (e) { /* ignore */ }
    return null;
  }

  return { el, money, api, errorSentence, loadLastOrder, ORDER_KEY, CART_KEY };
})();
