// The customer storefront: catalog, cart, the shipping address and method decided live by
// the rules (POST /eligibility), then checkout for exactly that address and method.
"use strict";

(function () {
  const { el, money, api, errorSentence, ORDER_KEY, CART_KEY } = window.Bonestore;
  const COUNTRY_KEY = "bonestore.country";
  const ADDRESS_KEY = "bonestore.address"; // sessionStorage: kept for this tab only
  const MAX_QTY = 999;
  const MAX_LINES = 100;
  const $ = (id) => document.getElementById(id);

  let countries = new Map(); // code -> {code, name, subdivisions, subdivision, postal_code}
  let products = new Map(); // sku -> Product (availability for the current country), in catalog order
  let cart = loadCart(); // [{sku, quantity}]
  let decision = null; // last /eligibility answer, for `decisionKey`
  let decisionKey = null;
  let checkError = null; // {code, ...} of the last /eligibility refusal
  let chosenMethod = null;
  let checkSeq = 0;
  let productsSeq = 0;
  let checkTimer = null;
  const notes = new Map(); // sku -> explanation of a changed quantity
  let listedReasonIds = new Set(); // reasons already said once above the product list

  // ---- storage ----------------------------------------------------------------

  function loadCart() {
    try {
      const raw = JSON.parse(localStorage.getItem(CART_KEY) || "[]");
      return Array.isArray(raw) ? raw.filter((l) => l && typeof l.sku === "string"
        && Number.isInteger(l.quantity) && l.quantity >= 1 && l.quantity <= MAX_QTY).slice(0, MAX_LINES) : [];
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

  // ---- countries and the address form -----------------------------------------

  function country() { return $("country").value; }
  function countryInfo() { return countries.get(country()) || null; }
  function countryName(code) { const c = countries.get(code); return c ? c.name : code; }

  function errorContext() {
    const info = countryInfo();
    return {
      country: info ? info.name : country(),
      postalLabel: info ? info.postal_code.label : "postal code",
      postalExample: info ? info.postal_code.example : null,
      subdivisionLabel: info ? info.subdivision.label : "region",
    };
  }

  async function loadCountries() {
    const result = await api("GET", "/countries");
    if (!result.ok) {
      showMessage("error", errorSentence(result.error));
      return;
    }
    countries = new Map(result.data.items.map((c) => [c.code, c]));
    const saved = localStorage.getItem(COUNTRY_KEY) || "US";
    $("country").replaceChildren(...result.data.items.map((c) => el("option", { value: c.code }, c.name)));
    $("country").value = countries.has(saved) ? saved : "US";
    shapeAddressForm();
    restoreAddress();
  }

  function shapeAddressForm() {
    const info = countryInfo();
    if (!info) return;
    renderAddressFrame();
    const subs = info.subdivisions || [];
    const subLabel = info.subdivision.required ? info.subdivision.label : `${info.subdivision.label} (optional)`;
    $("subdivision-text").textContent = subLabel;
    $("subdivision-label").hidden = subs.length === 0;
    const previous = $("subdivision").value;
    $("subdivision").replaceChildren(
      el("option", { value: "" }, info.subdivision.required ? `Choose your ${info.subdivision.label.toLowerCase()}` : "—"),
      ...subs.map((s) => el("option", { value: s.code }, s.name)));
    $("subdivision").value = subs.some((s) => s.code === previous) ? previous : "";
    $("subdivision").required = Boolean(info.subdivision.required && subs.length);
    const postal = info.postal_code;
    $("postal-label").hidden = !postal.used;
    $("postal-text").textContent = postal.required ? postal.label : `${postal.label} (optional)`;
    $("postal-code").placeholder = postal.example ? `e.g. ${postal.example}` : "";
    $("postal-code").required = Boolean(postal.required);
    if (!postal.used) $("postal-code").value = "";
  }

  const ADDRESS_FIELDS = ["name", "line1", "line2", "city", "subdivision", "postal-code"];

  function restoreAddress() {
    try {
      const saved = JSON.parse(sessionStorage.getItem(ADDRESS_KEY) || "{}");
      for (const id of ADDRESS_FIELDS) if (typeof saved[id] === "string") $(id).value = saved[id];
      if (typeof saved.email === "string") $("email").value = saved.email;
    } catch (e) { /* ignore */ }
  }
  function rememberAddress() {
    const saved = { email: $("email").value };
    for (const id of ADDRESS_FIELDS) saved[id] = $(id).value;
    sessionStorage.setItem(ADDRESS_KEY, JSON.stringify(saved));
  }

  function needsAddress() {
    return cart.some((l) => { const p = products.get(l.sku); return !p || p.kind === "physical"; });
  }

  // The address form's frame: shown when the cart needs an address (a full one to ship,
  // or only the region where sanctions cover regions), and what it says it is for.
  function renderAddressFrame() {
    const empty = cart.length === 0;
    const regionOnly = !empty && needsRegion();
    $("address").hidden = empty || !(needsAddress() || regionOnly);
    $("address").classList.toggle("region-only", regionOnly);
    $("address-legend").textContent = regionOnly ? "Where you live" : "Shipping address";
    const info = countryInfo();
    if (info) {
      $("address-country").textContent = regionOnly
        ? `US sanctions cover parts of ${info.name}: tell us your region or postal code.`
        : `Shipping to ${info.name}. Change the country at the top of the page.`;
    }
  }

  // Where a sanction covers regions of a country (Crimea, Sevastopol, Donetsk, Luhansk:
  // Ukraine's, and Russia's writing of them), a digital-only order says where it is, so
  // the rules decide on that place before the card is charged, not after.
  const REGION_SCREENED = new Set(["UA", "RU"]);
  function needsRegion() { return !needsAddress() && REGION_SCREENED.has(country()); }

  // The address as typed: what /eligibility decides on while the customer types.
  function destination() {
    const dest = { country: country() };
    const sub = $("subdivision").value;
    const postal = $("postal-code").value.trim();
    const city = $("city").value.trim();
    const line1 = $("line1").value.trim();
    if (sub) dest.subdivision = sub;
    if (postal && !$("postal-label").hidden) dest.postal_code = postal;
    if (city) dest.city = city;
    if (line1) dest.line1 = line1;
    return dest;
  }

  function shippingAddress() {
    const address = { name: $("name").value.trim(), line1: $("line1").value.trim(), city: $("city").value.trim(), country: country() };
    const line2 = $("line2").value.trim();
    if (line2) address.line2 = line2;
    if ($("subdivision").value) address.subdivision = $("subdivision").value;
    const postal = $("postal-code").value.trim();
    if (postal && !$("postal-label").hidden) address.postal_code = postal;
    return address;
  }

  // What is still missing from the address, in words (empty when complete).
  function addressMissing() {
    const info = countryInfo();
    const missing = [];
    if (!$("name").value.trim()) missing.push("your full name");
    if (!$("line1").value.trim()) missing.push("the street address");
    if (!$("city").value.trim()) missing.push("the city");
    if (info && info.subdivision.required && info.subdivisions.length && !$("subdivision").value) {
      missing.push(`the ${info.subdivision.label.toLowerCase()}`);
    }
    if (info && info.postal_code.required && !$("postal-code").value.trim()) {
      missing.push(`the ${info.postal_code.label.toLowerCase().replace(/^pin/, "PIN")}`);
    }
    return missing;
  }

  // ---- products ---------------------------------------------------------------

  function maxQuantity(sku) {
    const p = products.get(sku);
    const fromProduct = p && p.availability ? p.availability.max_quantity : null;
    const line = decision && (decision.items || []).find((l) => l.sku === sku);
    const fromCart = line ? line.max_quantity : null;
    return Math.min(MAX_QTY, fromProduct || MAX_QTY, fromCart || MAX_QTY);
  }

  // The quantity to use, and a sentence when it is not what was typed.
  function clampQuantity(value, max) {
    const n = Math.trunc(Number(value));
    if (!Number.isFinite(n) || n < 1) return { quantity: 1, note: "Quantities start at 1." };
    if (n > max) {
      const why = max < MAX_QTY ? `${countryName(country())} allows at most ${max} per order` : `At most ${MAX_QTY} per order`;
      return { quantity: max, note: `${why}, so we changed ${n} to ${max}.` };
    }
    return { quantity: n, note: null };
  }

  // A reason shared by every unavailable product (an embargo, "we don't ship there") is said
  // once above the list; each product shows only what is its own.
  function sharedReasons(decisions) {
    const blocked = decisions.filter((d) => !d.eligible);
    if (blocked.length < 2) return [];
    const first = blocked[0].reasons || [];
    return first.filter((r) => blocked.every((d) => (d.reasons || []).some((o) => o.rule_id === r.rule_id)));
  }

  function renderNotice(id, reasons, lead) {
    const box = $(id);
    box.hidden = reasons.length === 0;
    box.replaceChildren(...(reasons.length ? [el("p", {}, lead),
      el("ul", { class: "reasons" }, reasons.map((r) => el("li", { class: "reason", "data-rule": r.rule_id }, r.message)))] : []));
  }

  async function loadProducts() {
    const seq = ++productsSeq;
    const status = $("products-status");
    status.textContent = "Loading products…";
    const cc = country();
    const result = await api("GET", `/products?country=${encodeURIComponent(cc)}`);
    if (seq !== productsSeq) return;
    if (!result.ok) {
      status.textContent = "";
      $("products").replaceChildren();
      showMessage("error", errorSentence(result.error, errorContext()));
      return;
    }
    const items = (result.data.items || []).slice().sort((a, b) =>
      (a.position ?? 1000) - (b.position ?? 1000) || (a.sku < b.sku ? -1 : a.sku > b.sku ? 1 : 0));
    products = new Map(items.map((p) => [p.sku, p]));
    status.textContent = `Showing what we can ship to ${countryName(cc)}.`;
    renderProducts(cc);
    renderCart();
    scheduleCheck(0);
  }

  function renderProducts(cc) {
    const where = countryName(cc);
    const all = Array.from(products.values());
    const shared = sharedReasons(all.map((p) => p.availability || { eligible: true, reasons: [] }));
    const sharedIds = new Set(shared.map((r) => r.rule_id));
    listedReasonIds = sharedIds;
    const noneBuyable = all.length > 0 && all.every((p) => !(p.availability || { eligible: true }).eligible);
    renderNotice("products-notice", shared,
      noneBuyable ? `We can't sell any of our products to ${where}:` : `Some products aren't available in ${where}:`);
    $("products").replaceChildren(...all.map((p) => {
      const a = p.availability || { eligible: true, max_quantity: null, reasons: [] };
      const canBuy = a.eligible && p.in_stock;
      const max = Math.min(MAX_QTY, a.max_quantity || MAX_QTY);
      const qtyId = `qty-${p.sku}`;
      const noteId = `qty-note-${p.sku}`;
      const own = (a.reasons || []).filter((r) => !sharedIds.has(r.rule_id));
      return el("li", { id: `product-${p.sku}`, class: canBuy ? "product" : "product unavailable",
        "data-sku": p.sku },
      el("div", { class: "info" },
        el("h3", {}, p.name),
        p.description ? el("p", { class: "desc" }, p.description) : null,
        el("p", { class: "meta" },
          el("span", { class: "price" }, money(p.price)),
          el("span", { class: p.in_stock ? "stock yes" : "stock no" }, p.in_stock ? "In stock" : "Out of stock"),
          el("span", { class: "kind" }, p.kind === "digital" ? "Digital download" : "Shipped")),
        el("p", { class: a.eligible ? "availability yes" : "availability no" },
          a.eligible ? `Available in ${where}` : `Not available in ${where}`),
        own.length ? el("ul", { class: "reasons" }, own.map((r) =>
          el("li", { class: "reason", "data-rule": r.rule_id }, r.message))) : null,
        canBuy && a.max_quantity ? el("p", { class: "limit" }, `Limit: ${a.max_quantity} per order to ${where}.`) : null),
      canBuy ? el("div", { class: "buy" },
        el("label", { for: qtyId }, "Quantity"),
        el("input", { id: qtyId, type: "number", min: "1", max: String(max), value: "1",
          inputmode: "numeric", "aria-describedby": noteId,
          onchange: (ev) => {
            const { quantity, note } = clampQuantity(ev.target.value, max);
            ev.target.value = String(quantity);
            $(noteId).textContent = note || "";
          } }),
        el("button", { id: `add-${p.sku}`, type: "button",
          "aria-label": `Add ${p.name} to cart`,
          onclick: () => {
            const { quantity, note } = clampQuantity($(qtyId).value, max);
            $(qtyId).value = String(quantity);
            if (note) $(noteId).textContent = note; // else keep what a change already explained
            addToCart(p.sku, quantity);
          } }, "Add to cart"),
        // After the button, so a note appearing on blur never moves the button being clicked.
        el("p", { id: noteId, class: "qty-note", "aria-live": "polite" }))
        : el("div", { class: "buy" }, el("button", { id: `add-${p.sku}`, type: "button", disabled: true,
          "aria-label": `${p.name} can't be added to the cart` }, p.in_stock ? "Not available" : "Sold out")));
    }));
  }

  // ---- cart -------------------------------------------------------------------

  function addToCart(sku, quantity) {
    clearMessage();
    const max = maxQuantity(sku);
    const line = cart.find((l) => l.sku === sku);
    const p = products.get(sku);
    if (line) {
      const wanted = line.quantity + quantity;
      line.quantity = Math.min(max, wanted);
      notes.set(sku, wanted > max ? clampQuantity(wanted, max).note : null);
    } else if (cart.length < MAX_LINES) {
      cart.push({ sku, quantity: Math.min(max, quantity) });
    } else {
      showMessage("error", `A cart holds at most ${MAX_LINES} different products.`);
      return;
    }
    $("products-status").textContent = `Added ${p ? p.name : sku} to your cart.`;
    changed();
  }

  function setQuantity(sku, value) {
    const line = cart.find((l) => l.sku === sku);
    if (!line) return;
    const { quantity, note } = clampQuantity(value, maxQuantity(sku));
    line.quantity = quantity;
    notes.set(sku, note);
    changed();
  }

  function removeLine(sku) {
    cart = cart.filter((l) => l.sku !== sku);
    notes.delete(sku);
    changed();
  }

  function changed() {
    saveCart();
    renderCart();
    scheduleCheck();
  }

  function currentKey() {
    return JSON.stringify({ d: destination(), items: cart.map((l) => [l.sku, l.quantity]) });
  }
  function freshDecision() { return decision && decisionKey === currentKey() ? decision : null; }

  function renderCart() {
    const empty = cart.length === 0;
    $("cart-empty").hidden = !empty;
    const d = freshDecision();
    let subtotal = 0;
    let currency = null;
    let count = 0;
    const lineDecisions = d ? (d.items || []) : [];
    // Said once per page: a reason the product list already gives is not repeated here.
    const shared = sharedReasons(lineDecisions).filter((r) => !listedReasonIds.has(r.rule_id));
    const sharedIds = new Set([...shared.map((r) => r.rule_id), ...listedReasonIds]);
    renderNotice("cart-notice", shared, "We can't ship these items to this address:");
    $("cart-lines").replaceChildren(...cart.map((line) => {
      const p = products.get(line.sku);
      const max = maxQuantity(line.sku);
      const qtyId = `cart-qty-${line.sku}`;
      count += line.quantity;
      let total = null;
      if (p && p.price && Number.isInteger(p.price.amount)) {
        total = { amount: p.price.amount * line.quantity, currency: p.price.currency };
        subtotal += total.amount;
        currency = currency || p.price.currency;
      }
      const dl = lineDecisions.find((x) => x.sku === line.sku && x.quantity === line.quantity);
      let status;
      if (checkError) status = null;
      else if (!dl) status = el("p", { class: "line-status hint" }, "Checking…");
      else if (dl.eligible) status = el("p", { class: "line-status yes" }, p && p.kind === "digital" ? "Ready to download after payment" : "Can ship");
      else {
        const own = (dl.reasons || []).filter((r) => !sharedIds.has(r.rule_id));
        status = el("div", { class: "line-status no" }, "Can't ship to this address",
          own.length ? el("ul", { class: "reasons" }, own.map((r) =>
            el("li", { class: "reason", "data-rule": r.rule_id }, r.message))) : null);
      }
      const note = notes.get(line.sku);
      return el("li", { class: "cart-line", id: `line-${line.sku}`, "data-sku": line.sku },
        el("div", { class: "line-head" },
          el("span", { class: "name" }, p ? p.name : line.sku),
          el("span", { class: "line-total" }, total ? money(total) : "–")),
        el("div", { class: "line-controls" },
          el("label", { for: qtyId }, "Qty"),
          el("input", { id: qtyId, type: "number", min: "1", max: String(max), value: String(line.quantity),
            inputmode: "numeric", onchange: (ev) => setQuantity(line.sku, ev.target.value) }),
          el("button", { id: `remove-${line.sku}`, type: "button", class: "secondary",
            "aria-label": `Remove ${p ? p.name : line.sku} from cart`,
            onclick: () => removeLine(line.sku) }, "Remove")),
        note ? el("p", { class: "qty-note", id: `line-note-${line.sku}` }, note) : null,
        status);
    }));
    const sub = $("cart-subtotal");
    sub.hidden = empty || !currency;
    sub.textContent = currency ? `Subtotal: ${money({ amount: subtotal, currency })}` : "";
    renderAddressFrame();
    const summary = $("cart-summary");
    summary.hidden = empty;
    $("cart-summary-text").textContent = empty ? "Cart" :
      `Cart: ${count} item${count === 1 ? "" : "s"}${currency ? ` · ${money({ amount: subtotal, currency })}` : ""}`;
    if (empty) { $("cart-check").replaceChildren(); $("shipping-methods").hidden = true; }
    renderMethods();
    updateCheckoutButton();
  }

  // ---- shipping methods ---------------------------------------------------------

  function renderMethods() {
    const d = freshDecision();
    const box = $("shipping-methods");
    const physical = needsAddress();
    if (!d || !physical || cart.length === 0) { box.hidden = true; return; }
    const offered = d.shipping_methods || [];
    const missing = d.unavailable_shipping_methods || [];
    if (!offered.some((m) => m.id === chosenMethod)) chosenMethod = offered.length === 1 ? offered[0].id : null;
    box.hidden = offered.length === 0 && missing.length === 0;
    $("method-options").replaceChildren(
      ...offered.map((m) => {
        const free = m.price && m.price.amount === 0;
        return el("div", { class: "method", "data-method": m.id },
          el("label", { for: `method-${m.id}`, class: "method-label" },
            el("input", { type: "radio", name: "shipping_method", id: `method-${m.id}`, value: m.id,
              checked: m.id === chosenMethod,
              onchange: () => { chosenMethod = m.id; updateCheckoutButton(); } }),
            el("span", { class: "method-name" }, m.name),
            el("span", { class: free ? "method-price free" : "method-price" }, free ? "Free" : money(m.price))),
          (m.reasons || []).length ? el("p", { class: "method-why" }, m.reasons.map((r) => r.message).join(" ")) : null);
      }),
      ...missing.map((m) => el("div", { class: "method unavailable", "data-method": m.id },
        el("label", { for: `method-${m.id}`, class: "method-label" },
          el("input", { type: "radio", name: "shipping_method", id: `method-${m.id}`, value: m.id, disabled: true,
            "aria-describedby": `method-why-${m.id}` }),
          el("span", { class: "method-name" }, m.name),
          el("span", { class: "method-price" }, "Not available")),
        el("p", { class: "method-why", id: `method-why-${m.id}` }, (m.reasons || []).map((r) => r.message).join(" ")))));
  }

  function updateCheckoutButton() {
    const d = freshDecision();
    const hint = $("checkout-hint");
    let why = null;
    if (cart.length === 0) why = "Add something to your cart first.";
    else if (checkError) why = "Please fix the shipping address above.";
    else if (!d) why = "Checking what can ship…";
    else if (!d.eligible) why = "Remove the items that can't ship to continue.";
    else if (needsRegion() && !$("subdivision").value && !$("postal-code").value.trim()) {
      why = "To continue, tell us your region or postal code.";
    } else if (needsAddress()) {
      const missing = addressMissing();
      if (missing.length) why = `To continue, add ${missing.join(", ")}.`;
      else if (!(d.shipping_methods || []).length) why = "No shipping method reaches this address.";
      else if (!chosenMethod) why = "Choose a shipping method.";
    }
    hint.textContent = why || "";
    $("checkout").disabled = Boolean(why);
  }

  // ---- live eligibility -------------------------------------------------------

  function scheduleCheck(delay) {
    clearTimeout(checkTimer);
    checkTimer = setTimeout(checkCart, delay === undefined ? 300 : delay);
  }

  function showAddressError(text) {
    $("address-error").hidden = !text;
    $("address-error").textContent = text || "";
  }

  async function checkCart() {
    const seq = ++checkSeq;
    const box = $("cart-check");
    if (cart.length === 0) { box.replaceChildren(); decision = null; checkError = null; showAddressError(null); renderCart(); return; }
    const key = currentKey();
    const body = { destination: destination(), items: cart.map((l) => ({ sku: l.sku, quantity: l.quantity })) };
    const result = await api("POST", "/eligibility", body);
    if (seq !== checkSeq) return;
    if (!result.ok) {
      decision = null;
      checkError = result.error;
      const sentence = errorSentence(result.error, errorContext());
      const aboutAddress = /^invalid_(postal_code|subdivision|country|destination)$/.test(result.error.code || "");
      showAddressError(aboutAddress ? sentence : null);
      box.replaceChildren(aboutAddress ? "" : el("p", { class: "inline-error", id: "check-error" }, sentence));
      renderCart();
      return;
    }
    checkError = null;
    showAddressError(null);
    decision = result.data;
    decisionKey = key;
    renderCart();
    const d = decision.destination || {};
    const where = countryName(d.country || country());
    box.replaceChildren(
      el("p", { id: "cart-verdict", class: decision.eligible ? "verdict yes" : "verdict no" },
        decision.eligible ? `Everything in your cart can go to ${where}.`
          : `Some items can't go to ${where}. Remove them to check out.`));
  }

  // ---- checkout ---------------------------------------------------------------

  function nameOf(sku) {
    const p = products.get(sku);
    return p ? p.name : sku;
  }

  function showCheckoutError(error) {
    const lines = [];
    const details = Array.isArray(error.details) ? error.details : [];
    if (error.code === "not_shippable") {
      for (const line of details) {
        if (line && line.sku && line.eligible === false) {
          const why = (line.reasons || []).map((r) => r.message).join(" ");
          lines.push(`${nameOf(line.sku)}: ${why || "can't ship to this address."}`);
        }
      }
      scheduleCheck(0);
    } else if (error.code === "out_of_stock") {
      for (const line of details) if (line && line.sku) lines.push(`${nameOf(line.sku)} is sold out or has fewer left than you asked for.`);
      loadProducts();
    }
    showMessage("error", errorSentence(error, errorContext()), [...new Set(lines)]);
  }

  async function checkout(event) {
    event.preventDefault();
    clearMessage();
    if (!cart.length || $("checkout").disabled) return;
    const button = $("checkout");
    button.disabled = true;
    button.textContent = "Starting checkout…";
    const body = {
      items: cart.map((l) => ({ sku: l.sku, quantity: l.quantity })),
      success_url: `${location.origin}/order?paid={CHECKOUT_SESSION_ID}`,
      cancel_url: `${location.origin}/?cancelled=1`,
    };
    if (needsAddress()) {
      body.shipping_address = shippingAddress();
      body.shipping_method = chosenMethod;
      // The same address as a v1 destination, for a server that does not read the v2 fields yet.
      body.destination = destination();
    } else if (needsRegion()) {
      body.destination = destination();  // decided on at checkout, before payment
    }
    const email = $("email").value.trim();
    if (email) body.email = email;
    rememberAddress();
    const result = await api("POST", "/checkout", body);
    if (result.ok && result.data && result.data.checkout_url) {
      button.textContent = "Redirecting to payment…";
      sessionStorage.setItem(ORDER_KEY, JSON.stringify({
        order_id: String(result.data.order_id || ""),
        order_token: String(result.data.order_token || ""),
        stripe_session_id: String(result.data.stripe_session_id || ""),
      }));
      location.href = result.data.checkout_url;
      return;
    }
    button.textContent = "Go to payment";
    updateCheckoutButton();
    showCheckoutError(result.error || {});
  }

  // ---- start ------------------------------------------------------------------

  function handleReturn() {
    const params = new URLSearchParams(location.search);
    if (params.has("paid")) {
      // Old return links: the order page asks the server what happened.
      location.replace(`/order?paid=${encodeURIComponent(params.get("paid") || "")}`);
      return true;
    }
    if (params.has("cancelled")) {
      showMessage("info", "Checkout was cancelled. Your cart is still here.");
      history.replaceState(null, "", "/");
    }
    return false;
  }

  $("country").addEventListener("change", () => {
    clearMessage();
    localStorage.setItem(COUNTRY_KEY, country());
    shapeAddressForm();
    decision = null;
    loadProducts();
  });
  for (const id of ADDRESS_FIELDS) {
    $(id).addEventListener("input", () => { rememberAddress(); renderCart(); scheduleCheck(400); });
    $(id).addEventListener("change", () => { rememberAddress(); renderCart(); scheduleCheck(0); });
  }
  $("email").addEventListener("change", rememberAddress);
  $("destination-form").addEventListener("submit", (event) => event.preventDefault());
  $("checkout-form").addEventListener("submit", checkout);

  if (!handleReturn()) {
    renderCart();
    loadCountries().then(loadProducts);
  }
})();
