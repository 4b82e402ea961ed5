// The support console: staff sign in to the Cognito user pool (USER_PASSWORD_AUTH with
// Cognito's InitiateAuth JSON API, straight from the browser), then call the support API
// same-origin with the ID token. The token lives in this closure only: never in storage.
// Everything the API returns is put on the page as text (never as HTML).
"use strict";

(function () {
  const CONFIG_URL = "/static/console-config.json";
  const $ = (id) => document.getElementById(id);
  const result = $("result");
  const errorBox = $("error");
  let session = null; // {idToken, username, groups, expiresAt}
  let pendingChallenge = null; // {username, session} while a first sign-in sets its password
  let configPromise = null;

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key === "class") node.className = value;
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function table(headers, rows, attrs) {
    return el("table", attrs || {},
      el("thead", {}, el("tr", {}, headers.map((h) => el("th", {}, h)))),
      el("tbody", {}, rows.map((cells) => el("tr", {}, cells.map((c) => el("td", {}, c))))));
  }

  const money = (m) => (m && typeof m.amount === "number")
    ? `${(m.amount / 100).toFixed(2)} ${m.currency}` : "-";
  const yesNo = (v) => el("span", { class: v ? "yes" : "no" }, v ? "yes" : "no");
  const place = (d) => d ? ["line1", "city", "subdivision", "postal_code", "country"]
    .filter((k) => d[k]).map((k) => d[k]).join(" ") : "-";
  const reasons = (line) => (line.reasons || []).map((r) =>
    el("div", { class: "reason", "data-rule": r.rule_id },
      el("code", {}, r.rule_id), ` (${r.code}): ${r.message}`));

  // ---------------------------------------------------------------- sign-in

  function config() {
    if (!configPromise) {
      configPromise = fetch(CONFIG_URL).then((r) => (r.ok ? r.json() : null)).then((cfg) => {
        if (!cfg || !cfg.clientId || !cfg.region) {
          const error = new Error("");
          error.type = "ConsoleNotConfigured";
          throw error;
        }
        return cfg;
      });
      configPromise.catch(() => { configPromise = null; });
    }
    return configPromise;
  }

  // Cognito's user pools API: one JSON POST per action, named in X-Amz-Target. In AWS the
  // endpoint is https://cognito-idp.<region>.amazonaws.com/; locally the embedded AWS.
  async function cognito(action, body) {
    const cfg = await config();
    const endpoint = cfg.endpoint || `https://cognito-idp.${cfg.region}.amazonaws.com/`;
    const response = await fetch(endpoint, {
      method: "POST",
      headers: {
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": `AWSCognitoIdentityProviderService.${action}`,
      },
      body: JSON.stringify({ ClientId: cfg.clientId, ...body }),
    });
    let data = {};
    try { data = await response.json(); } catch (e) { data = {}; }
    if (!response.ok) {
      const type = String(data.__type || data.code || "Error").split("#").pop();
      const error = new Error(data.message || data.Message || response.statusText);
      error.type = type;
      throw error;
    }
    return data;
  }

  function claimsOf(idToken) {
    // Display only (who is signed in): the API verifies the token, the page never trusts it.
    const part = idToken.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    const json = decodeURIComponent(Array.from(atob(part),
      (c) => "%" + c.charCodeAt(0).toString(16).padStart(2, "0")).join(""));
    return JSON.parse(json);
  }

  function startSession(auth) {
    const claims = claimsOf(auth.IdToken);
    session = {
      idToken: auth.IdToken,
      username: claims["cognito:username"] || claims.email || claims.sub,
      groups: claims["cognito:groups"] || [],
      expiresAt: Date.now() + (auth.ExpiresIn || 3600) * 1000,
    };
    pendingChallenge = null;
    showSession();
  }

  function signOut(message) {
    session = null;
    pendingChallenge = null;
    $("password").value = "";
    $("new-password").value = "";
    showSession();
    $("signin-status").textContent = message || "Signed out.";
  }

  function showSession() {
    const signedIn = session !== null;
    $("signin-panel").hidden = signedIn;
    $("who-panel").hidden = !signedIn;
    $("signin-form").hidden = signedIn || pendingChallenge !== null;
    $("new-password-form").hidden = pendingChallenge === null;
    if (signedIn) {
      $("who-name").textContent = session.username;
      $("who-groups").textContent = session.groups.length
        ? `(${session.groups.join(", ")})` : "(in no staff group)";
    }
  }

  function signInMessage(error) {
    if (error.type === "ConsoleNotConfigured") {
      return `Sign-in is not set up here: ${CONFIG_URL} is missing (docs/deploy.md, "Staff users and sign-in").`;
    }
    if (error.type === "NotAuthorizedException") return "Wrong username or password.";
    if (error.type === "UserNotFoundException") return "Wrong username or password.";
    if (error.type === "PasswordResetRequiredException") return "Your password must be reset: ask an administrator.";
    if (error.type === "InvalidPasswordException") return `That password is not accepted: ${error.message}`;
    if (error.type === "TooManyRequestsException") return "Too many attempts; wait a minute and try again.";
    if (error instanceof TypeError) return "The sign-in service did not answer; check your connection.";
    return `Sign-in failed: ${error.message}`;
  }

  async function signIn(username, password) {
    $("signin-status").textContent = "Signing in…";
    try {
      const answer = await cognito("InitiateAuth", {
        AuthFlow: "USER_PASSWORD_AUTH",
        AuthParameters: { USERNAME: username, PASSWORD: password },
      });
      $("password").value = "";
      if (answer.AuthenticationResult) {
        $("signin-status").textContent = "";
        startSession(answer.AuthenticationResult);
      } else if (answer.ChallengeName === "NEW_PASSWORD_REQUIRED") {
        pendingChallenge = { username, session: answer.Session };
        $("signin-status").textContent = "";
        showSession();
        $("new-password").focus();
      } else {
        $("signin-status").textContent =
          `This account needs ${answer.ChallengeName}, which the console does not offer yet.`;
      }
    } catch (error) {
      $("signin-status").textContent = signInMessage(error);
    }
  }

  async function setNewPassword(newPassword) {
    try {
      const answer = await cognito("RespondToAuthChallenge", {
        ChallengeName: "NEW_PASSWORD_REQUIRED",
        Session: pendingChallenge.session,
        ChallengeResponses: { USERNAME: pendingChallenge.username, NEW_PASSWORD: newPassword },
      });
      $("new-password").value = "";
      if (answer.AuthenticationResult) startSession(answer.AuthenticationResult);
    } catch (error) {
      $("signin-status").textContent = signInMessage(error);
      if (error.type === "NotAuthorizedException") signOut("The sign-in took too long; sign in again.");
    }
  }

  function clear() {
    errorBox.hidden = true;
    errorBox.textContent = "";
    result.replaceChildren();
  }

  function showError(status, error) {
    errorBox.hidden = false;
    let hint = "";
    if (status === 403) hint = " Your staff group may not do this.";
    errorBox.replaceChildren(
      el("strong", {}, `${status} ${error.code}`), `: ${error.message}${hint}`);
    const details = (error.details || []).filter((d) => d && d.message);
    if (details.length) {
      errorBox.append(el("ul", { id: "error-details" }, ...details.map((d) =>
        el("li", {}, el("code", {}, d.rule_id || d.code || "-"), ` ${d.message}`))));
    }
  }

  async function api(method, path, body) {
    clear();
    if (session === null || Date.now() >= session.expiresAt) {
      const expired = session !== null;
      signOut(expired ? "Your session has expired: sign in again." : "Sign in first.");
      showError(401, { code: "unauthorized", message: expired
        ? "Your session has expired: sign in again." : "Sign in first." });
      return null;
    }
    result.append(el("p", { class: "status" }, "Loading…"));
    let response;
    try {
      response = await fetch(path, {
        method,
        headers: { "Authorization": `Bearer ${session.idToken}`, "Content-Type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      result.replaceChildren();
      showError(0, { code: "network_error", message: `The API did not answer (${e.message}).` });
      return null;
    }
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    result.replaceChildren();
    if (!response.ok) {
      const error = (data && data.error) || { code: "http_error", message: response.statusText };
      if (response.status === 401) {
        signOut("Your session is no longer valid: sign in again.");
        error.message += " Sign in again.";
      }
      showError(response.status, error);
      return null;
    }
    return data;
  }

  function decisionRows(name, decision) {
    if (!decision) return [[name, "-", "-", "-", "not decided"]];
    return (decision.items || []).map((line, i) => [
      i === 0 ? name : "", line.sku, yesNo(line.eligible),
      line.max_quantity === null || line.max_quantity === undefined ? "-" : String(line.max_quantity),
      reasons(line),
    ]);
  }

  function traceTables(lines) {
    return (lines || []).map((line) => el("div", { class: "trace", "data-sku": line.sku },
      el("h3", {}, `Rules considered for ${line.sku}`),
      table(["Rule", "Effect", "Result", "Why"], (line.rules || []).map((s) => [
        el("code", {}, s.rule_id), s.effect,
        el("span", { class: s.result === "match" ? "match" : "" }, s.result), s.detail || "",
      ]))));
  }

  function renderOrder(order) {
    const e = order.eligibility || {};
    let verdict;
    if (e.now_error) {
      verdict = el("p", { class: "differs", id: "now-verdict" }, `Now: ${e.now_error}`);
    } else if (e.now_differs) {
      verdict = el("p", { class: "differs", id: "now-verdict" },
        `Now differs from ${String(e.compared_with || "").replace("_", " ")}. Changed by: `,
        (e.changed_by || []).length ? e.changed_by.map((id) => el("code", { class: "changed-by" }, id, " "))
          : "no single rule");
    } else {
      verdict = el("p", { class: "same", id: "now-verdict" },
        "Now: the same decision as when the order was placed.");
    }
    const nowTrace = e.now ? traceTables((e.now.items || []).map((line) => (
      { sku: line.sku, rules: line.trace || [] }))) : [];
    result.append(
      el("h2", {}, "Order ", el("code", { id: "order-title-id" }, order.order_id)),
      el("dl", {},
        el("dt", {}, "Status"), el("dd", { id: "order-status" }, order.status),
        el("dt", {}, "Email"), el("dd", {}, order.email || "-"),
        el("dt", {}, "Created"), el("dd", {}, order.created_at || "-"),
        el("dt", {}, "Total"), el("dd", {}, money(order.amount_total)),
        el("dt", {}, "Ships to"), el("dd", { id: "ships-to" }, shipsTo(order)),
        el("dt", {}, "Billing country"), el("dd", { id: "billing-country" }, order.billing_country || "-"),
        el("dt", {}, "Stripe session"), el("dd", {}, order.stripe_session_id || "-"),
        el("dt", {}, "Payment intent"), el("dd", {}, order.payment_intent_id || "-")),
      ...holdSection(order),
      ...actionSection(order),
      el("h3", {}, "Lines"),
      table(["SKU", "Name", "Qty", "Unit price", "Line total"], (order.items || []).map((i) => [
        i.sku, i.name || "", String(i.quantity), money(i.unit_price), money(i.line_total)])),
      el("h3", {}, "Can it ship?"),
      verdict,
      table(["When", "SKU", "Eligible", "Max qty", "Why"], [
        ...decisionRows("at checkout", e.at_checkout),
        ...decisionRows("at payment", e.at_payment),
        ...decisionRows("now", e.now),
      ], { id: "eligibility-table" }),
      ...nowTrace,
      el("h3", {}, "Timeline"),
      table(["At", "Event", "Detail"], (order.events || []).map((ev) => [
        ev.at, ev.type, ev.detail ? JSON.stringify(ev.detail) : ""])),
    );
  }

  function shipsTo(order) {
    const a = order.shipping_address;
    if (!a) return place(order.destination);
    return [a.name, a.line1, a.line2, a.city, a.subdivision, a.postal_code, a.country]
      .filter(Boolean).join(", ");
  }

  // Why a held order is held: each rule's customer message, the staff note and its source.
  function holdSection(order) {
    if (!order.hold) return [];
    return [
      el("h3", {}, "Why it is held"),
      table(["Rule", "Customer message", "Note", "Source"], (order.hold.reasons || []).map((r) => [
        el("code", {}, r.rule_id || r.code || "-"), r.message || "", r.note || "", r.source || "",
      ]), { id: "hold-table" }),
    ];
  }

  // Release (held only) and refund (held or paid), each with the reason staff give.
  function actionSection(order) {
    const canRelease = order.status === "held";
    const canRefund = order.status === "held" || order.status === "paid";
    if (!canRelease && !canRefund) return [];
    const reason = el("textarea", { id: "action-reason", maxlength: "500", rows: "2", required: "" });
    const act = async (move) => {
      const text = reason.value.trim();
      if (!text) {
        showError(400, { code: "reason_required", message: "Say why (1 to 500 characters)." });
        return;
      }
      const path = `/support/orders/${encodeURIComponent(order.order_id)}/${move}`;
      const updated = await api("POST", path, { reason: text });
      renderOrder(updated || order);
    };
    return [
      el("h3", {}, "Resolve"),
      el("label", { for: "action-reason" }, "Reason (kept on the order and in the audit log)"),
      reason,
      el("div", { class: "row" },
        canRelease ? el("button", { type: "button", id: "release-button", onclick: () => act("release") },
          "Release") : "",
        canRefund ? el("button", { type: "button", id: "refund-button", class: "secondary",
          onclick: () => act("refund") }, "Refund in full") : ""),
    ];
  }

  async function lookUpOrder(orderId) {
    const order = await api("GET", `/support/orders/${encodeURIComponent(orderId)}`);
    if (order) renderOrder(order);
  }

  function renderOrders(email, page, more) {
    const items = page.items || [];
    result.append(el("h2", {}, email === null ? "Held orders" : `Orders for ${email}`));
    if (!items.length) {
      result.append(el("p", { id: "no-orders" },
        email === null ? "No held orders." : "No orders for this email."));
      return;
    }
    result.append(table(["Order", "Status", "Created", "Total", "Email"], items.map((o) => [
      el("button", { class: "link order-link", type: "button", "data-order": o.order_id,
        onclick: () => { $("order-id").value = o.order_id; lookUpOrder(o.order_id); } }, o.order_id),
      o.status, o.created_at, money(o.amount_total), o.email || "",
    ]), { id: "orders-table" }));
    if (page.next_token) {
      result.append(el("button", { type: "button", id: "more-orders", class: "secondary",
        onclick: () => (more || findOrders)(email, page.next_token) }, "More"));
    }
  }

  async function findHeld(_, nextToken) {
    const query = new URLSearchParams({ status: "held", limit: "20" });
    if (nextToken) query.set("next_token", nextToken);
    const page = await api("GET", `/support/orders?${query}`);
    if (page) renderOrders(null, page, findHeld);
  }

  async function findOrders(email, nextToken) {
    const query = new URLSearchParams({ email, limit: "20" });
    if (nextToken) query.set("next_token", nextToken);
    const page = await api("GET", `/support/orders?${query}`);
    if (page) renderOrders(email, page);
  }

  function renderCheck(body) {
    result.append(
      el("p", { class: "verdict", id: "check-verdict" },
        el("span", { class: body.eligible ? "yes" : "no" }, body.eligible ? "Eligible" : "Not eligible"),
        ` to ${place(body.destination)}`),
      el("p", { class: "status" }, `Ruleset ${body.ruleset_version}, decided at ${body.evaluated_at}`),
      table(["SKU", "Qty", "Eligible", "Max qty", "Why"], (body.items || []).map((l) => [
        l.sku, String(l.quantity), yesNo(l.eligible),
        l.max_quantity === null ? "-" : String(l.max_quantity), reasons(l)]), { id: "check-table" }),
      el("p", { id: "check-methods" }, "Shipping methods: ", (body.shipping_methods || []).length
        ? body.shipping_methods.map((m) => `${m.name} (${money(m.price)})`).join(", ") : "none"),
      // Why a method the customer expected is not offered (a PO box, a territory...).
      ...(body.unavailable_shipping_methods || []).map((m) =>
        el("div", { class: "unavailable-method", "data-method": m.id },
          el("p", {}, `Not available: ${m.name}`), ...reasons(m))),
      ...traceTables(body.trace),
    );
  }

  $("signin-form").addEventListener("submit", (event) => {
    event.preventDefault();
    signIn($("username").value.trim(), $("password").value);
  });
  $("new-password-form").addEventListener("submit", (event) => {
    event.preventDefault();
    setNewPassword($("new-password").value);
  });
  $("sign-out").addEventListener("click", () => { clear(); signOut(); });
  $("order-form").addEventListener("submit", (event) => {
    event.preventDefault();
    lookUpOrder($("order-id").value.trim());
  });
  $("held-button").addEventListener("click", () => findHeld(null, null));
  $("orders-form").addEventListener("submit", (event) => {
    event.preventDefault();
    findOrders($("email").value.trim());
  });
  $("check-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const destination = { country: $("country").value.trim() };
    for (const [field, id] of [["line1", "line1"], ["city", "city"],
      ["subdivision", "subdivision"], ["postal_code", "postal-code"]]) {
      if ($(id).value.trim()) destination[field] = $(id).value.trim();
    }
    const body = await api("POST", "/support/eligibility", {
      destination,
      items: [{ sku: $("sku").value.trim(), quantity: Number($("qty").value || "1") }],
    });
    if (body) renderCheck(body);
  });
  showSession();
})();
