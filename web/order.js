// The order page: asks the server what happened to the customer's own order
// (GET /orders/{id} with X-Order-Token) and says so; never trusts the return URL.
// The id and token come from the URL fragment (email links) or from this tab's checkout.
"use strict";

(function () {
  const { el, money, api, errorSentence, loadLastOrder, CART_KEY } = window.Bonestore;
  const $ = (id) => document.getElementById(id);
  const POLL_MS = 1500;
  const POLL_FOR_MS = 30000;
  const started = Date.now();

  const HEADINGS = {
    pending_payment: "We're confirming your payment",
    paid: "Thank you: your payment went through",
    held: "Your order is on hold",
    payment_failed: "Your payment didn't go through",
    expired: "This checkout expired",
    refunded: "Your order was refunded",
    fulfilled: "Your order is on its way",
  };
  const NEXT = {
    pending_payment: "This usually takes a few seconds. This page updates by itself.",
    paid: "We're packing your order. We'll email you the tracking number when it ships.",
    // held: the server's status message already says what happens next.
    payment_failed: "You were not charged. Your cart is still in the shop if you want to try again.",
    expired: "You were not charged, and the items went back on sale. Your cart is still in the shop.",
    refunded: "The refund goes back to the card you paid with; banks usually show it within 5–10 business days.",
    fulfilled: "Use the tracking number below to follow your parcel.",
  };

  function credentials() {
    const fragment = new URLSearchParams(location.hash.replace(/^#/, ""));
    const id = fragment.get("id");
    const token = fragment.get("token");
    if (id && token) return { order_id: id, order_token: token, fromLink: true };
    const last = loadLastOrder();
    if (!last) return null;
    // A return URL names a Checkout Session: one that is not this tab's checkout shows nothing.
    const paid = new URLSearchParams(location.search).get("paid");
    if (paid && last.stripe_session_id && paid !== last.stripe_session_id) return null;
    return last;
  }

  // "1 December 2026", the day the server's status_message names (UTC); null for no date.
  function shippedDay(at) {
    const when = new Date(at);
    if (!at || Number.isNaN(when.getTime())) return null;
    return when.toLocaleDateString("en-GB", { day: "numeric", month: "long", year: "numeric", timeZone: "UTC" });
  }

  // Country names as the storefront shows them (GET /countries); the code until they arrive,
  // or if they never do: the address is still right, only less friendly.
  let countryNames = new Map();
  let subdivisionNames = new Map();
  const namesLoaded = api("GET", "/countries").then((result) => {
    if (result.ok && result.data && Array.isArray(result.data.items)) {
      countryNames = new Map(result.data.items.map((c) => [c.code, c.name]));
      subdivisionNames = new Map(result.data.items.flatMap((c) =>
        (Array.isArray(c.subdivisions) ? c.subdivisions : []).map((s) => [s.code, s.name])));
    }
  });
  function countryName(code) { return countryNames.get(code) || code; }
  // As a letter is addressed there: the postal abbreviation where the post uses one
  // ("Montréal QC H2X 1Y4", "Honolulu HI 96813"), elsewhere the name; the ISO 3166-2
  // code ("CA-QC") is for machines.
  const POSTAL_ABBREVIATIONS = new Set(["US", "CA", "AU"]);
  function subdivisionName(country, code) {
    if (!code) return "";
    const local = code.includes("-") ? code.slice(code.indexOf("-") + 1) : code;
    if (POSTAL_ABBREVIATIONS.has(country)) return local;
    return subdivisionNames.get(code) || local;
  }

  function notFound() {
    $("order").setAttribute("aria-busy", "false");
    $("order-title").textContent = "We could not find this order";
    $("order-status").textContent = "The link may be incomplete, or the order belongs to another browser. " +
      "Open the link from your order email, or write to support@bonestore.example with your order number.";
    $("order-details").replaceChildren();
  }

  function render(order, polling) {
    $("order").setAttribute("aria-busy", polling ? "true" : "false");
    $("order").dataset.status = order.status;
    $("order-title").textContent = HEADINGS[order.status] || "Your order";
    $("order-status").textContent = order.status_message || "";
    const items = Array.isArray(order.items) ? order.items : [];
    // A digital-only order is not packed: nothing to say after the server's sentence.
    const digitalOnly = items.length > 0 && items.every((line) => line.kind === "digital");
    const next = order.status === "paid" && digitalOnly ? "" : NEXT[order.status] || "";
    const details = [
      ...(next ? [el("p", { class: "next" }, next)] : []),
      el("p", { class: "order-number" }, "Order number: ", el("span", { id: "order-number" }, order.order_id)),
    ];
    if (items.length) {
      details.push(el("ul", { class: "order-items" }, items.map((line) =>
        el("li", {}, `${line.quantity} × ${line.name || line.sku}`))));
    }
    if (order.amount_total) details.push(el("p", { class: "subtotal" }, `Total: ${money(order.amount_total)}`));
    const address = order.shipping_address;
    if (address) {
      details.push(el("h3", {}, "Shipping to"), el("address", {},
        [address.name, address.line1, address.line2,
          [address.city, subdivisionName(address.country, address.subdivision), address.postal_code]
            .filter(Boolean).join(" "),
          address.country && countryName(address.country)]
          .filter(Boolean).flatMap((part, i) => (i ? [el("br", {}), part] : [part]))));
    }
    const shipments = Array.isArray(order.shipments) ? order.shipments : [];
    if (shipments.length) {
      details.push(el("h3", {}, "Tracking"), el("ul", { class: "shipments" }, shipments.map((s) => {
        const day = shippedDay(s.at);
        return el("li", {}, `${s.carrier}: `, el("span", { class: "tracking" }, s.tracking_number),
          day ? [", shipped ", el("time", { datetime: s.at }, day)] : []);
      })));
    }
    $("order-details").replaceChildren(...details);
  }

  function clearCartFor(order) {
    // Only the order this tab just paid for empties the cart, and only once it is paid.
    const last = loadLastOrder();
    if (last && last.order_id === order.order_id && (order.status === "paid" || order.status === "fulfilled")) {
      localStorage.setItem(CART_KEY, "[]");
    }
  }

  async function poll(creds) {
    const result = await api("GET", `/orders/${encodeURIComponent(creds.order_id)}`, undefined,
      { "X-Order-Token": creds.order_token });
    if (!result.ok) {
      if (result.status === 404 || result.status === 400 || result.status === 403) { notFound(); return; }
      $("order-status").textContent = errorSentence(result.error);
      if (Date.now() - started < POLL_FOR_MS) setTimeout(() => poll(creds), POLL_MS * 2);
      return;
    }
    const order = result.data;
    await namesLoaded;
    const waiting = order.status === "pending_payment" && Date.now() - started < POLL_FOR_MS;
    render(order, waiting);
    clearCartFor(order);
    if (waiting) setTimeout(() => poll(creds), POLL_MS);
    else if (order.status === "pending_payment") {
      $("order-status").textContent = "Your payment is taking longer than usual to confirm. We'll email you as soon as it does; you can close this page.";
    }
  }

  const creds = credentials();
  if (!creds) notFound();
  else poll(creds);
})();
