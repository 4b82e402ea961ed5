"""``bonestore support order|orders|check``: the support API from a terminal.

Talks to a deployed or local API (``--api-url`` / ``BONESTORE_API_URL``, default the
running ``bonestore serve``, else ``http://127.0.0.1:3000``) as a staff member: signed
in with ``--username``/``--password`` (or ``BONESTORE_USERNAME``/``BONESTORE_PASSWORD``;
asked for when missing on a terminal) against the staff user pool, or with a ready
ID token (``--token`` / ``BONESTORE_TOKEN``). Prints the API it asked and readable
tables; ``--json`` prints the API's body. Exits 1 on an API or connection error, 2 on
bad usage.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import urllib.error
import urllib.parse
from typing import Any

from bonestore_infra import http_json

DEFAULT_API_URL = "http://127.0.0.1:3000"
TIMEOUT_SECONDS = 30
LOOPBACK = ("127.0.0.1", "localhost", "::1")


class CliError(Exception):
    """A failure to report in one line, with an exit code."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def staff_api_options() -> argparse.ArgumentParser:
    """``--api-url`` and the staff sign-in options, as a parent parser (every staff command)."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--api-url",
        default=None,
        help="API base URL (default: $BONESTORE_API_URL, else the running `bonestore serve`, "
        f"else {DEFAULT_API_URL})",
    )
    common.add_argument(
        "--username", default=None, help="staff username to sign in with ($BONESTORE_USERNAME)"
    )
    common.add_argument(
        "--password",
        default=None,
        help="its password ($BONESTORE_PASSWORD; asked for on a terminal when missing)",
    )
    common.add_argument(
        "--token", default=None, help="a staff ID token instead of signing in ($BONESTORE_TOKEN)"
    )
    return common


def register(subparsers: Any) -> None:
    support = subparsers.add_parser("support", help="look up orders and eligibility (staff)")
    common = staff_api_options()
    common.add_argument("--json", action="store_true", help="print the API's JSON body")
    sub = support.add_subparsers(dest="support_command", required=True, metavar="SUBCOMMAND")

    order = sub.add_parser("order", parents=[common], help="one order, with eligibility and why")
    order.add_argument("order_id")
    order.set_defaults(handler=order_command)

    orders = sub.add_parser("orders", parents=[common], help="a customer's orders by email")
    orders.add_argument("--email", required=True)
    orders.add_argument("--limit", type=_positive_int, default=20)
    orders.add_argument("--next-token", default=None)
    orders.set_defaults(handler=orders_command)

    held = sub.add_parser("held", parents=[common], help="the held orders, oldest first")
    held.add_argument("--limit", type=int, default=20)
    held.add_argument("--next-token", default=None)
    held.set_defaults(handler=held_command)

    for name, text in (
        ("release", "release a held order the rules now permit (it goes to fulfilment)"),
        ("refund", "refund a held or paid order in full through Stripe"),
    ):
        move = sub.add_parser(name, parents=[common], help=text)
        move.add_argument("order_id")
        move.add_argument("--reason", required=True, help="why (kept on the order and audited)")
        move.set_defaults(handler=move_command, move=name)

    check = sub.add_parser(
        "check",
        parents=[common],
        help="may a product ship to an address, and why",
        description="Decide a cart for an address as checkout would: the first line "
        "matters (PO boxes), as do the state or province and the postal code.",
    )
    check.add_argument("--country", required=True, help="two-letter country code, e.g. US, CA")
    check.add_argument("--sku", required=True, action="append", help="repeat for a cart")
    check.add_argument("--qty", type=_positive_int, default=1, help="quantity of each SKU")
    check.add_argument("--line1", help="first address line, e.g. 'PO Box 12' or '1 Main St'")
    check.add_argument("--city")
    check.add_argument("--subdivision", help="state, province or region, e.g. NY or US-NY")
    check.add_argument("--postal-code")
    check.add_argument("--at", help="decide at this date or time, e.g. 2027-01-01 (default: now)")
    check.set_defaults(handler=check_command)


# ------------------------------------------------------------------ where, and as whom


def api_url(args: argparse.Namespace) -> str:
    from bonestore_infra.serve_state import running_stack

    url = args.api_url or os.environ.get("BONESTORE_API_URL")
    if not url:
        stack = running_stack()
        url = stack.api_url if stack is not None else DEFAULT_API_URL
    url = url.strip().rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise CliError(f"--api-url must start with http:// or https://, not {url!r}", exit_code=2)
    return url


def _staff_pool(url: str) -> Any:
    """The user pool staff of the API at ``url`` sign in to."""
    from bonestore_infra.local_cognito import StaffPool
    from bonestore_infra.serve_state import running_stack

    stack = running_stack()
    if stack is not None and stack.api_url == url:
        return stack.user_pool
    client_id = os.environ.get("BONESTORE_USER_POOL_CLIENT_ID")
    pool_id = os.environ.get("BONESTORE_USER_POOL_ID")
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if client_id and pool_id and region:
        return StaffPool.in_aws(region, pool_id, client_id)
    config = _console_config(url)
    if config is None:
        raise CliError(
            f"cannot tell which user pool the API at {url} uses: set BONESTORE_USER_POOL_ID, "
            "BONESTORE_USER_POOL_CLIENT_ID and AWS_REGION (the stack's UserPoolId and "
            "UserPoolClientId outputs), or pass --token",
            exit_code=2,
        )
    pool = StaffPool.in_aws(config["region"], config["userPoolId"], config["clientId"])
    # A local stack's pool is on the embedded AWS. Only a loopback API may name its own
    # sign-in endpoint: anything else gets Cognito's, so a password never goes elsewhere.
    endpoint = str(config.get("endpoint") or "")
    if endpoint and {urllib.parse.urlsplit(u).hostname for u in (url, endpoint)} <= set(LOOPBACK):
        pool = StaffPool(
            str(config["endpoint"]).rstrip("/"), pool.pool_id, pool.client_id, pool.region
        )
    return pool


def _console_config(url: str) -> dict[str, Any] | None:
    """The console's sign-in config, served next to the API (locally; in AWS behind CloudFront)."""
    parts = urllib.parse.urlsplit(url)
    config_url = f"{parts.scheme}://{parts.netloc}/static/console-config.json"
    try:
        answer = http_json.request("GET", config_url, timeout=TIMEOUT_SECONDS)
        config = answer.json() if answer.status == 200 else None
    except (OSError, ValueError):
        return None
    if isinstance(config, dict) and {"clientId", "userPoolId", "region"} <= config.keys():
        return config
    return None


def bearer_token(args: argparse.Namespace, url: str) -> str:
    from bonestore_infra.dev_auth import SignInError, sign_in

    token = args.token or (None if args.username else os.environ.get("BONESTORE_TOKEN"))
    if token:
        return str(token).strip()
    username = args.username or os.environ.get("BONESTORE_USERNAME")
    if not username:
        raise CliError(
            "not signed in: pass --username (and --password), or set BONESTORE_USERNAME and "
            "BONESTORE_PASSWORD (`bonestore serve` prints the local staff users)",
            exit_code=2,
        )
    password = args.password or os.environ.get("BONESTORE_PASSWORD")
    if not password:
        if not sys.stdin.isatty():
            raise CliError(
                f"no password for {username}: pass --password or set BONESTORE_PASSWORD",
                exit_code=2,
            )
        password = getpass.getpass(f"Password for {username}: ")
    pool = _staff_pool(url)
    try:
        return str(sign_in(pool, username, password)["IdToken"])
    except SignInError as exc:
        if "NotAuthorized" in str(exc) or "UserNotFound" in str(exc):
            raise CliError(f"sign-in refused: wrong username or password for {username}") from None
        raise CliError(f"sign-in failed: {exc}") from None


# ------------------------------------------------------------------ HTTP


def call_api(args: argparse.Namespace, method: str, path: str, body: Any = None) -> dict[str, Any]:
    url = api_url(args)
    print(f"API {url}", file=sys.stderr)
    token = bearer_token(args, url)
    try:
        answer = http_json.request(
            method,
            url + path,
            body,
            token=token,
            headers={"Accept": "application/json"},
            timeout=TIMEOUT_SECONDS,
        )
        if answer.status >= 400:
            raise CliError(_http_error(answer, args))
        result: dict[str, Any] = json.loads(answer.body or b"{}")
        return result
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, ConnectionRefusedError):
            raise CliError(
                f"cannot reach the bonestore API at {url}: connection refused "
                "(is `bonestore serve` running, or is --api-url right?)"
            ) from None
        raise CliError(f"cannot reach the bonestore API at {url}: {reason}") from None
    except TimeoutError:
        raise CliError(
            f"the bonestore API at {url} did not answer within {TIMEOUT_SECONDS}s"
        ) from None
    except json.JSONDecodeError:
        raise CliError(f"the API at {url} answered with something that is not JSON") from None


def request_json(
    method: str, url: str, body: Any = None, *, token: str | None = None
) -> tuple[int, Any]:
    """One JSON request: the status and the parsed body (an error body too; None if not JSON).

    Only a failure to get any answer raises (a ``CliError`` in one line)."""
    try:
        answer = http_json.request(
            method,
            url,
            body,
            token=token,
            headers={"Accept": "application/json"},
            timeout=TIMEOUT_SECONDS,
        )
    except urllib.error.URLError as exc:
        raise CliError(f"cannot reach {url}: {exc.reason}") from None
    except TimeoutError:
        raise CliError(f"{url} did not answer within {TIMEOUT_SECONDS}s") from None
    try:
        return answer.status, json.loads(answer.body or b"{}")
    except ValueError:
        return answer.status, None


def _human_message(code: str, args: argparse.Namespace) -> str | None:
    """The API's validation codes in the words of the command's own options."""
    from bonestore.service.carts import MAX_QUANTITY

    given = {
        name: repr(getattr(args, name, "") or "")
        for name in ("email", "country", "subdivision", "at")
    }
    messages = {
        "invalid_email": f"{given['email']} is not an email address; "
        "give the customer's whole address, like jane@example.com",
        "invalid_country": f"{given['country']} is not a country we know; "
        "use its two-letter code, like US, CA or GB",
        "invalid_subdivision": f"{given['subdivision']} is not a state, province or region "
        "of that country; use its code, like NY or US-NY",
        "invalid_time": f"--at {given['at']} is not a date; "
        "write it like 2027-01-01 or 2027-01-01T09:00:00Z",
        "invalid_quantity": f"--qty must be a whole number from 1 to {MAX_QUANTITY}",
    }
    return messages.get(code)


def _http_error(answer: http_json.HttpResponse, args: argparse.Namespace) -> str:
    try:
        error = answer.json()["error"]
        message = _human_message(str(error["code"]), args) or error["message"]
        text = f"{answer.status} {error['code']}: {message}"
        # A refusal by the rules lists each rule's reason (validation details stay hidden:
        # the human message above says what to type instead).
        for detail in error.get("details") or []:
            if isinstance(detail, dict) and detail.get("rule_id") and detail.get("message"):
                text += f"\n  - {detail['rule_id']}: {detail['message']}"
    except (ValueError, KeyError, TypeError):
        text = f"{answer.status} {answer.reason}"
    if answer.status == 401:
        text += " (the sign-in is missing, invalid or expired: sign in again)"
    elif answer.status == 403:
        text += " (your staff group may not do this)"
    return text


# ------------------------------------------------------------------ output


def _console() -> Any:
    from rich.console import Console

    return Console(file=sys.stdout, width=140, highlight=False, soft_wrap=False)


def _money(value: Any) -> str:
    if not isinstance(value, dict):
        return "-"
    return f"{value['amount'] / 100:,.2f} {value['currency']}"


def _yes_no(value: Any) -> str:
    return "[green]yes[/green]" if value else "[red]no[/red]"


def _reasons(line: dict[str, Any]) -> str:
    """Each reason with what staff show the customer and what backs it: the rule's
    source (the regulation) and note, when the answer carries them."""
    out = []
    for r in line.get("reasons") or []:
        text = f"{r['rule_id']} ({r['code']}): {r['message']}"
        if r.get("source"):
            text += f"\n  source: {r['source']}"
        if r.get("note"):
            text += f"\n  note: {r['note']}"
        out.append(text)
    return "\n".join(out)


def _destination(dest: Any) -> str:
    if not isinstance(dest, dict):
        return "-"
    return " ".join(
        str(dest[k])
        for k in ("line1", "city", "subdivision", "postal_code", "country")
        if dest.get(k)
    )


def _decision_rows(table: Any, name: str, decision: dict[str, Any] | None) -> None:
    if decision is None:
        table.add_row(name, "-", "", "", "")
        return
    for index, line in enumerate(decision.get("items") or []):
        table.add_row(
            name if index == 0 else "",
            line["sku"],
            _yes_no(line["eligible"]),
            "-" if line.get("max_quantity") is None else str(line["max_quantity"]),
            _reasons(line) or "",
        )
    billing = decision.get("billing")
    if isinstance(billing, dict) and billing.get("eligible") is False:
        # The payment check also decides on the billing address: its refusal is the hold.
        codes = ", ".join(str(r.get("rule_id")) for r in billing.get("reasons") or [])
        table.add_row("", f"billing {billing.get('country') or '-'}", _yes_no(False), "", codes)


def print_order(body: dict[str, Any]) -> None:
    from rich.table import Table

    console = _console()
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    head.add_row("Order", body["order_id"])
    head.add_row("Status", str(body.get("status")))
    head.add_row("Email", str(body.get("email") or "-"))
    head.add_row("Created", str(body.get("created_at") or "-"))
    head.add_row("Total", _money(body.get("amount_total")))
    head.add_row("Destination", _destination(body.get("destination")))
    head.add_row("Billing country", str(body.get("billing_country") or "-"))
    head.add_row("Stripe session", str(body.get("stripe_session_id") or "-"))
    head.add_row("Payment intent", str(body.get("payment_intent_id") or "-"))
    console.print(head)

    items = Table(title="Lines", title_justify="left")
    for column in ("SKU", "Name", "Qty", "Unit price", "Line total"):
        items.add_column(column)
    for item in body.get("items") or []:
        items.add_row(
            item["sku"],
            str(item.get("name") or ""),
            str(item["quantity"]),
            _money(item.get("unit_price")),
            _money(item.get("line_total")),
        )
    console.print(items)

    hold = (body.get("hold") or {}).get("reasons") or []
    if hold:
        why = Table(title="Why it is held", title_justify="left")
        for column in ("Rule", "Message", "Source", "Note"):
            why.add_column(column)
        for reason in hold:
            why.add_row(
                str(reason.get("rule_id") or ""),
                str(reason.get("message") or ""),
                str(reason.get("source") or ""),
                str(reason.get("note") or ""),
            )
        console.print(why)

    eligibility = body.get("eligibility") or {}
    table = Table(title="Eligibility", title_justify="left")
    for column in ("When", "SKU", "Eligible", "Max qty", "Reasons"):
        table.add_column(column)
    for name in ("at_checkout", "at_payment", "now"):
        _decision_rows(table, name.replace("_", " "), eligibility.get(name))
    console.print(table)
    if eligibility.get("now_error"):
        console.print(f"[yellow]Now: {eligibility['now_error']}[/yellow]")
    elif eligibility.get("now_differs"):
        rules = ", ".join(eligibility.get("changed_by") or []) or "no single rule"
        compared = str(eligibility.get("compared_with") or "").replace("_", " ")
        console.print(f"[bold red]Now differs from {compared}[/bold red], changed by: {rules}")
    else:
        compared = str(eligibility.get("compared_with") or "at_checkout").replace("_", " ")
        console.print(f"[green]Now: the same decision as {compared}.[/green]")

    events = Table(title="Timeline", title_justify="left")
    for column in ("At", "Event", "Detail"):
        events.add_column(column)
    for event in body.get("events") or []:
        detail = event.get("detail") or {}
        events.add_row(
            str(event.get("at")),
            str(event.get("type")),
            ", ".join(f"{k}={v}" for k, v in detail.items()) if isinstance(detail, dict) else "",
        )
    console.print(events)


def print_orders(body: dict[str, Any], email: str, *, title: str | None = None) -> None:
    from rich.table import Table

    console = _console()
    items = body.get("items") or []
    if not items:
        console.print(f"No orders for {email}." if title is None else f"No {title.lower()}.")
        return
    table = Table(title=title or f"Orders for {email}", title_justify="left")
    for column in ("Order", "Status", "Created", "Total", "Email"):
        table.add_column(column)
    for order in items:
        table.add_row(
            order["order_id"],
            order["status"],
            order["created_at"],
            _money(order.get("amount_total")),
            str(order.get("email") or ""),
        )
    console.print(table)
    if body.get("next_token"):
        console.print(f"More: --next-token {body['next_token']}")


def print_check(body: dict[str, Any]) -> None:
    from rich.table import Table

    console = _console()
    verdict = "[green]ELIGIBLE[/green]" if body["eligible"] else "[red]NOT ELIGIBLE[/red]"
    console.print(
        f"{verdict} to {_destination(body.get('destination'))} "
        f"(ruleset {body['ruleset_version']}, at {body['evaluated_at']})"
    )
    lines = Table(title="Lines", title_justify="left")
    for column in ("SKU", "Qty", "Eligible", "Max qty", "Reasons"):
        lines.add_column(column)
    for line in body.get("items") or []:
        lines.add_row(
            line["sku"],
            str(line["quantity"]),
            _yes_no(line["eligible"]),
            "-" if line.get("max_quantity") is None else str(line["max_quantity"]),
            _reasons(line),
        )
    console.print(lines)
    methods = ", ".join(
        f"{m['id']} {_money(m['price'])}" for m in body.get("shipping_methods") or []
    )
    console.print(f"Shipping methods: {methods or 'none'}")
    # What support is asked next: why a method the customer expected is not offered.
    for method in body.get("unavailable_shipping_methods") or []:
        console.print(f"Not available: {method['id']} ({method['name']})")
        for line in _reasons(method).splitlines():
            console.print(f"  {line}", highlight=False)
    for line in body.get("trace") or []:
        trace = Table(title=f"Rules considered for {line['sku']}", title_justify="left")
        for column in ("Rule", "Effect", "Result", "Why"):
            trace.add_column(column)
        for step in line.get("rules") or []:
            trace.add_row(step["rule_id"], step["effect"], step["result"], step.get("detail", ""))
        console.print(trace)


# ------------------------------------------------------------------ commands


def _run(args: argparse.Namespace, method: str, path: str, body: Any, show: Any) -> int:
    try:
        result = call_api(args, method, path, body)
    except CliError as exc:
        print(f"bonestore support: {exc}", file=sys.stderr)
        return exc.exit_code
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
    else:
        show(result)
    return 0


def order_command(args: argparse.Namespace) -> int:
    path = "/support/orders/" + urllib.parse.quote(args.order_id.strip(), safe="")
    return _run(args, "GET", path, None, print_order)


def orders_command(args: argparse.Namespace) -> int:
    query = {"email": args.email.strip(), "limit": str(args.limit)}
    if args.next_token:
        query["next_token"] = args.next_token
    path = "/support/orders?" + urllib.parse.urlencode(query)
    return _run(args, "GET", path, None, lambda body: print_orders(body, args.email.strip()))


def check_command(args: argparse.Namespace) -> int:
    destination: dict[str, Any] = {"country": args.country.strip()}
    for field in ("line1", "city", "subdivision", "postal_code"):
        value = getattr(args, field)
        if value and value.strip():
            destination[field] = value.strip()
    body: dict[str, Any] = {
        "destination": destination,
        "items": [{"sku": sku, "quantity": args.qty} for sku in args.sku],
    }
    if args.at:
        body["at"] = _api_time(args.at)
    return _run(args, "POST", "/support/eligibility", body, print_check)


def _api_time(value: str) -> str:
    """--at as the API takes it: a date is its midnight and a time without an offset is
    UTC, as `bonestore rules check --at` reads them (the API itself wants the offset);
    what is neither goes as typed, for the API to refuse in plain words."""
    from bonestore.domain.orders import parse_iso

    try:
        return parse_iso(value.strip()).isoformat()
    except ValueError:
        return value


def held_command(args: argparse.Namespace) -> int:
    query = {"status": "held", "limit": str(args.limit)}
    if args.next_token:
        query["next_token"] = args.next_token
    path = "/support/orders?" + urllib.parse.urlencode(query)
    return _run(args, "GET", path, None, lambda body: print_orders(body, "", title="Held orders"))


def move_command(args: argparse.Namespace) -> int:
    """``support release|refund ID --reason``: the order as it now is, or why not."""
    reason = args.reason.strip()
    if not reason or len(reason) > 500:
        print("bonestore support: --reason must be 1 to 500 characters.", file=sys.stderr)
        return 2
    path = f"/support/orders/{urllib.parse.quote(args.order_id.strip(), safe='')}/{args.move}"
    return _run(args, "POST", path, {"reason": reason}, print_order)
