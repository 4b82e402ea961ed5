// The customer storefront: catalog, cart, live eligibility and checkout, same-origin.
// Everything the API returns is put on the page as text (never as HTML).
"use strict";

(function () {
  const COUNTRY_KEY = "bonestore.country";
  const DEST_KEY = "bonestore.destination";
  const CART_KEY = "bonestore.cart";
  const ORDER_KEY = "bonestore.lastOrder";
  const MAX_QTY = 999;
  const MAX_LINES = 100;
  const $ = (id) => document.getElementById(id);

  let products = new Map(); // sku -> Product (availability for the current country)
  let cart = loadCart(); // [{sku, quantity}]
  let decision = null; // last /eligibility answer matching the cart
  let checkSeq = 0;
  let productsSeq = 0;
  let checkTimer = null;

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

  // Integer minor units only: no floating point in money.
  function money(m) {
    if (!m || !Number.isInteger(m.amount)) return "-";
    const abs = Math.abs(m.amount);
    const minor = abs % 100;
    const major = (abs - minor) / 100;
    const digits = String(major).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    const text = `${m.amount < 0 ? "-" : ""}${m.currency === "USD" ? "$" : ""}${digits}.${String(minor).padStart(2, "0")}`;
    return m.currency === "USD" ? text : `${text} ${m.currency}`;
  }

  let regionNames = null;
  try { regionNames = new Intl.DisplayNames(["en"], { type: "region" }); } catch (e) { regionNames = null; }
  function countryName(code) {
    try { return (regionNames && regionNames.of(code)) || code; } catch (e) { return code; }
  }

  // ---- storage ----------------------------------------------------------------

  function loadCart() {
    try {
      const raw = JSON.parse(localStorage.getItem(CART_KEY) || "[]");
      return Array.isArray(raw) ? raw.filter((l) => l && typeof l.sku === "string"
        && Number.isInteger(l.quantity) && l.quantity >= 1).slice(0, MAX_LINES) : [];
    } catch (e) { return []; }
  }
  function saveCart() { localStorage.setItem(CART_KEY, JSON.stringify(cart)); }

  // ---- messages ---------------------------------------------------------------

  function showMessage(kind, title, lines) {
    const box = $("message");
    box.className = `message ${kind}`;
    box.setAttribute("role", kind === "error" ? "alert" : "status");
    box.replaceChildren(el("strong", {}, title));
    if (lines && lines.length) box.append(el("ul", {}, lines.map((l) => el("li", {}, l))));
    box.hidden = false;
  }
  function clearMessage() {
    const box = $("message");
    box.hidden = true;
    box.replaceChildren();
  }

  async function api(method, path, body) {
    let response;
    try {
      response = await fetch(path, {
        method,
        headers: body === undefined ? {} : { "Content-Type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      return { ok: false, status: 0, error: { code: "network_error", message: "We could not reach the shop. Check your connection and try again." } };
    }
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    if (!response.ok) {
      const error = (data && data.error) || { code: "http_error", message: `The shop answered ${response.status}.` };
      return { ok: false, status: response.status, error };
    }
    return { ok: true, status: response.status, data };
  }

  // ---- destination ------------------------------------------------------------

  function country() {
    const choice = $("country").value;
    const code = choice === "OTHER" ? $("country-other").value.trim() : choice;
    return code.toUpperCase();
  }
  function countryValid() { return /^[A-Z]{2}$/.test(country()); }

  function destination() {
    const dest = { country: country() };
    const sub = $("subdivision").value.trim();
    const postal = $("postal-code").value.trim();
    if (sub) dest.subdivision = sub.includes("-") ? sub : `${dest.country}-${sub}`;
    if (postal) dest.postal_code = postal;
    return dest;
  }

  function restoreDestination() {
    const saved = (localStorage.getItem(COUNTRY_KEY) || "US").toUpperCase();
    const known = Array.from($("country").options).some((o) => o.value === saved);
    $("country").value = known && saved !== "OTHER" ? saved : "OTHER";
    if (!known) $("country-other").value = saved;
    $("country-other-label").hidden = $("country").value !== "OTHER";
    try {
      const dest = JSON.parse(localStorage.getItem(DEST_KEY) || "{}");
      if (dest.subdivision) $("subdivision").value = dest.subdivision;
      if (dest.postal_code) $("postal-code").value = dest.postal_code;
    } catch (e) { /* ignore */ }
  }

  function rememberDestination() {
    if (countryValid()) localStorage.setItem(COUNTRY_KEY, country());
    localStorage.setItem(DEST_KEY, JSON.stringify({
      subdivision: $("subdivision").value.trim(), postal_code: $("postal-code").value.trim(),
    }));
  }

  // ---- products ---------------------------------------------------------------

  function maxQuantity(sku) {
    const p = products.get(sku);
    const fromProduct = p && p.availability ? p.availability.max_quantity : null;
    const line = decision && (decision.items || []).find((l) => l.sku === sku);
    const fromCart = line ? line.max_quantity : null;
    return Math.min(MAX_QTY, fromProduct || MAX_QTY, fromCart || MAX_QTY);
  }

  function clampQuantity(value, max) {
    const n = Math.trunc(Number(value));
    if (!Number.isFinite(n) || n < 1) return 1;
    return Math.min(n, max);
  }

  async function loadProducts() {
    const seq = ++productsSeq;
    const status = $("products-status");
    if (!countryValid()) {
      status.textContent = "Enter a 2-letter country code (for example JP) to see what we can ship there.";
      $("products").replaceChildren();
      return;
    }
    status.textContent = "Loading products…";
    const cc = country();
    const result = await api("GET", `/products?country=${encodeURIComponent(cc)}`);
    if (seq !== productsSeq) return;
    if (!result.ok) {
      status.textContent = "";
      $("products").replaceChildren();
      showMessage("error", result.error.message);
      return;
    }
    products = new Map((result.data.items || []).map((p) => [p.sku, p]));
    status.textContent = `Showing availability for ${countryName(cc)}.`;
    renderProducts(cc);
    renderCart();
    scheduleCheck(0);
  }

  function renderProducts(cc) {
    const where = countryName(cc);
    $("products").replaceChildren(...Array.from(products.values()).map((p) => {
      const a = p.availability || { eligible: true, max_quantity: null, reasons: [] };
      const canBuy = a.eligible && p.in_stock;
      const max = Math.min(MAX_QTY, a.max_quantity || MAX_QTY);
      const qtyId = `qty-${p.sku}`;
      return el("li", { id: `product-${p.sku}`, class: canBuy ? "product" : "product unavailable",
        "data-sku": p.sku, "aria-disabled": canBuy ? null : "true" },
      el("div", { class: "info" },
        el("h3", {}, p.name),
        p.description ? el("p", { class: "desc" }, p.description) : null,
        el("p", { class: "meta" },
          el("span", { class: "price" }, money(p.price)),
          el("span", { class: p.in_stock ? "stock yes" : "stock no" }, p.in_stock ? "In stock" : "Out of stock"),
          el("span", { class: "kind" }, p.kind === "digital" ? "Digital download" : "Shipped")),
        el("p", { class: a.eligible ? "availability yes" : "availability no" },
          a.eligible ? `Available in ${where}` : `Not available in ${where}`),
        a.reasons && a.reasons.length ? el("ul", { class: "reasons" }, a.reasons.map((r) =>
          el("li", { class: "reason", "data-rule": r.rule_id }, r.message))) : null,
        a.max_quantity ? el("p", { class: "limit" }, `Limit: ${a.max_quantity} per order to ${where}.`) : null),
      el("div", { class: "buy" },
        el("label", { for: qtyId }, "Quantity"),
        el("input", { id: qtyId, type: "number", min: "1", max: String(max), value: "1",
          inputmode: "numeric", disabled: !canBuy,
          onchange: (ev) => { ev.target.value = String(clampQuantity(ev.target.value, max)); } }),
        el("button", { id: `add-${p.sku}`, type: "button", disabled: !canBuy,
          "aria-label": `Add ${p.name} to cart`,
          onclick: () => addToCart(p.sku, clampQuantity($(qtyId).value, max)) }, "Add to cart")));
    }));
  }

  // ---- cart -------------------------------------------------------------------

  function addToCart(sku, quantity) {
    clearMessage();
    const max = maxQuantity(sku);
    const line = cart.find((l) => l.sku === sku);
    if (line) line.quantity = Math.min(max, line.quantity + quantity);
    else if (cart.length < MAX_LINES) cart.push({ sku, quantity: Math.min(max, quantity) });
    else { showMessage("error", `A cart holds at most ${MAX_LINES} different products.`); return; }
    changed();
  }

  function setQuantity(sku, value) {
    const line = cart.find((l) => l.sku === sku);
    if (!line) return;
    line.quantity = clampQuantity(value, maxQuantity(sku));
    changed();
  }

  function removeLine(sku) {
    cart = cart.filter((l) => l.sku !== sku);
    changed();
  }

  function changed() {
    saveCart();
    decision = null;
    renderCart();
    scheduleCheck();
  }

  function decisionLine(sku, quantity) {
    if (!decision) return null;
    const line = (decision.items || []).find((l) => l.sku === sku);
    return line && line.quantity === quantity ? line : null;
  }

  function renderCart() {
    const empty = cart.length === 0;
    $("cart-empty").hidden = !empty;
    let subtotal = 0;
    let currency = null;
    $("cart-lines").replaceChildren(...cart.map((line) => {
      const p = products.get(line.sku);
      const max = maxQuantity(line.sku);
      const qtyId = `cart-qty-${line.sku}`;
      let total = null;
      if (p && p.price && Number.isInteger(p.price.amount)) {
        total = { amount: p.price.amount * line.quantity, currency: p.price.currency };
        subtotal += total.amount;
        currency = currency || p.price.currency;
      }
      const d = decisionLine(line.sku, line.quantity);
      let status;
      if (!d) status = el("p", { class: "line-status hint" }, "Checking…");
      else if (d.eligible) status = el("p", { class: "line-status yes" }, "Can ship");
      else {
        status = el("div", { class: "line-status no" }, "Can't ship to this destination:",
          el("ul", { class: "reasons" }, (d.reasons || []).map((r) =>
            el("li", { class: "reason", "data-rule": r.rule_id }, r.message))));
      }
      return el("li", { class: "cart-line", id: `line-${line.sku}`, "data-sku": line.sku },
        el("div", { class: "line-head" },
          el("span", { class: "name" }, p ? p.name : line.sku),
          el("span", { class: "line-total" }, total ? money(total) : "-")),
        el("div", { class: "line-controls" },
          el("label", { for: qtyId }, "Qty"),
          el("input", { id: qtyId, type: "number", min: "1", max: String(max), value: String(line.quantity),
            inputmode: "numeric", onchange: (ev) => setQuantity(line.sku, ev.target.value) }),
          max < MAX_QTY ? el("span", { class: "hint" }, `max ${max}`) : null,
          el("button", { id: `remove-${line.sku}`, type: "button", class: "secondary",
            "aria-label": `Remove ${p ? p.name : line.sku} from cart`,
            onclick: () => removeLine(line.sku) }, "Remove")),
        status);
    }));
    const sub = $("cart-subtotal");
    sub.hidden = empty || !currency;
    sub.textContent = currency ? `Subtotal: ${money({ amount: subtotal, currency })}` : "";
    if (empty) $("cart-check").replaceChildren();
    updateCheckoutButton();
  }

  function updateCheckoutButton() {
    const blocked = cart.length === 0 || !countryValid() || (decision && decision.eligible === false);
    $("checkout").disabled = Boolean(blocked);
  }

  // ---- live eligibility -------------------------------------------------------

  function scheduleCheck(delay) {
    clearTimeout(checkTimer);
    checkTimer = setTimeout(checkCart, delay === undefined ? 250 : delay);
  }

  async function checkCart() {
    const seq = ++checkSeq;
    const box = $("cart-check");
    if (cart.length === 0) { box.replaceChildren(); decision = null; updateCheckoutButton(); return; }
    if (!countryValid()) {
      box.replaceChildren(el("p", { class: "hint" }, "Choose a destination country."));
      return;
    }
    box.replaceChildren(el("p", { class: "hint" }, "Checking what can ship…"));
    const body = { destination: destination(), items: cart.map((l) => ({ sku: l.sku, quantity: l.quantity })) };
    const result = await api("POST", "/eligibility", body);
    if (seq !== checkSeq) return;
    if (!result.ok) {
      decision = null;
      box.replaceChildren(el("p", { class: "inline-error", id: "check-error" }, result.error.message));
      renderCart();
      return;
    }
    decision = result.data;
    renderCart();
    const d = decision.destination || {};
    const where = [d.subdivision, d.postal_code, countryName(d.country || country())].filter(Boolean).join(", ");
    const methods = decision.shipping_methods || [];
    box.replaceChildren(
      el("p", { id: "cart-verdict", class: decision.eligible ? "verdict yes" : "verdict no" },
        decision.eligible ? `Everything in your cart can ship to ${where}.`
          : `Some items can't ship to ${where}. Remove them to check out.`),
      methods.length ? el("div", { id: "shipping-methods" },
        el("h3", {}, "Shipping options"),
        el("ul", {}, methods.map((m) => el("li", { "data-method": m.id }, `${m.name}: ${money(m.price)}`))),
        el("p", { class: "hint" }, "You choose one on the payment page."))
        : (decision.eligible ? el("p", { id: "shipping-methods", class: "hint" }, "No shipping needed.") : null));
  }

  // ---- checkout ---------------------------------------------------------------

  function nameOf(sku) {
    const p = products.get(sku);
    return p ? `${p.name} (${sku})` : sku;
  }

  function showCheckoutError(status, error) {
    const lines = [];
    const details = Array.isArray(error.details) ? error.details : [];
    if (error.code === "not_shippable") {
      for (const line of details) {
        if (line && line.sku && line.eligible === false) {
          const why = (line.reasons || []).map((r) => r.message).join(" ");
          lines.push(`${nameOf(line.sku)}: ${why || "cannot ship here."}`);
        }
      }
      if (details.length && details.every((l) => l && l.sku)) {
        decision = { eligible: false, items: details, shipping_methods: [] };
        renderCart();
      }
    } else if (error.code === "out_of_stock") {
      for (const line of details) if (line && line.sku) lines.push(`${nameOf(line.sku)} is out of stock.`);
      loadProducts();
    } else {
      for (const d of details) if (d && d.message) lines.push(d.field ? `${d.field}: ${d.message}` : d.message);
    }
    showMessage("error", error.message || `Checkout failed (${status}).`, lines);
  }

  async function checkout(event) {
    event.preventDefault();
    clearMessage();
    if (!cart.length) return;
    const button = $("checkout");
    button.disabled = true;
    button.textContent = "Starting checkout…";
    const body = {
      items: cart.map((l) => ({ sku: l.sku, quantity: l.quantity })),
      destination: destination(),
      success_url: `${location.origin}/?paid={CHECKOUT_SESSION_ID}`,
      cancel_url: `${location.origin}/?cancelled=1`,
    };
    const email = $("email").value.trim();
    if (email) body.email = email;
    const result = await api("POST", "/checkout", body);
    if (result.ok && result.data && result.data.checkout_url) {
      button.textContent = "Redirecting to payment…";
      sessionStorage.setItem(ORDER_KEY, String(result.data.order_id || ""));
      location.href = result.data.checkout_url;
      return;
    }
    button.textContent = "Checkout";
    updateCheckoutButton();
    showCheckoutError(result.status, result.error || { message: "Checkout failed." });
  }

  // ---- start ------------------------------------------------------------------

  function handleReturn() {
    const params = new URLSearchParams(location.search);
    if (params.has("paid")) {
      cart = [];
      saveCart();
      const order = sessionStorage.getItem(ORDER_KEY);
      sessionStorage.removeItem(ORDER_KEY);
      showMessage("success", "Thank you for your order!",
        ["Your payment went through and your order is being processed.",
          order ? `Order number: ${order}` : null].filter(Boolean));
      history.replaceState(null, "", "/");
    } else if (params.has("cancelled")) {
      showMessage("info", "Checkout was cancelled. Your cart is still here.");
      history.replaceState(null, "", "/");
    }
  }

  $("country").addEventListener("change", () => {
    $("country-other-label").hidden = $("country").value !== "OTHER";
    if ($("country").value === "OTHER") $("country-other").focus();
    clearMessage();
    rememberDestination();
    decision = null;
    loadProducts();
  });
  $("country-other").addEventListener("input", () => {
    clearMessage();
    rememberDestination();
    decision = null;
    if (countryValid() || !$("country-other").value) loadProducts();
  });
  for (const id of ["subdivision", "postal-code"]) {
    $(id).addEventListener("input", () => { rememberDestination(); decision = null; renderCart(); scheduleCheck(500); });
  }
  $("destination-form").addEventListener("submit", (event) => event.preventDefault());
  $("checkout-form").addEventListener("submit", checkout);

  handleReturn();
  restoreDestination();
  renderCart();
  loadProducts();
})();
