"""``bonestore rules lint|schema|check|diff``: the ruleset's operator tools (docs/rules.md)."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bonestore.domain.order import Order
    from bonestore.domain.rules.diff import OrderFlip


def register(subparsers: Any) -> None:
    rules = subparsers.add_parser("rules", help="lint, check and diff shipping rulesets")
    sub = rules.add_subparsers(dest="rules_command", required=True, metavar="SUBCOMMAND")

    lint = sub.add_parser("lint", help="check a ruleset file (default: the packaged one)")
    lint.add_argument("file", nargs="?", help="ruleset YAML (default: the packaged default)")
    lint.add_argument("--strict", action="store_true", help="fail on warnings too")
    lint.set_defaults(handler=lint_command)

    schema = sub.add_parser("schema", help="write the ruleset's JSON Schema (for editors)")
    schema.add_argument("--check", action="store_true", help="fail if the committed one drifted")
    schema.set_defaults(handler=schema_command)

    check = sub.add_parser("check", help="decide one product for one destination")
    check.add_argument("--country", required=True)
    check.add_argument("--subdivision")
    check.add_argument("--postal-code")
    check.add_argument("--line1")
    check.add_argument("--sku", required=True, action="append", help="repeat for a cart")
    check.add_argument("--qty", type=int, default=1)
    check.add_argument("--at", help="ISO-8601 time (default: now)")
    check.add_argument("--ruleset", help="ruleset YAML (default: the packaged default)")
    check.add_argument("--trace", action="store_true", help="show every rule considered")
    check.add_argument("--json", action="store_true", help="print the /eligibility body")
    check.set_defaults(handler=check_command)

    diff = sub.add_parser("diff", help="decisions (and recent orders) a ruleset change flips")
    diff.add_argument("old")
    diff.add_argument("new")
    diff.add_argument(
        "--at",
        help="decide at this one ISO-8601 time only (default: now and every date in the "
        "window where either ruleset changes)",
    )
    diff.add_argument(
        "--from", dest="window_from", help="start of the window (ISO-8601, default: now)"
    )
    diff.add_argument(
        "--window-days",
        type=int,
        default=365,
        help="how far ahead to look for rule changes without --at (days, default 365)",
    )
    diff.add_argument("--orders-table", help="DynamoDB orders table to replay (in AWS)")
    diff.add_argument(
        "--local",
        action="store_true",
        help="replay the orders of the running `bonestore serve` (no AWS variables needed)",
    )
    diff.add_argument("--endpoint-url", help="DynamoDB endpoint for --orders-table")
    diff.add_argument("--days", type=int, default=30, help="how recent an order is (days)")
    diff.set_defaults(handler=diff_command)


def _parse_at(value: str | None, flag: str = "--at") -> datetime | None:
    from bonestore.domain.orders import parse_iso

    if value is None:
        return None
    try:
        return parse_iso(value)
    except ValueError as exc:
        raise SystemExit(f"{flag}: not an ISO-8601 time: {value!r}") from exc


def _console() -> Any:
    from rich.console import Console

    return Console(file=sys.stdout, width=160, highlight=False)


def lint_command(args: argparse.Namespace) -> int:
    from bonestore.domain.rules.lint import lint_text
    from bonestore.domain.rules.loader import read_ruleset_text

    try:
        text, name = read_ruleset_text(args.file)
    except OSError as exc:
        print(f"cannot read {args.file}: {exc}", file=sys.stderr)
        return 2
    issues = lint_text(text, name)
    for issue in issues:
        print(issue)
    errors = sum(1 for i in issues if i.severity == "error")
    warnings = len(issues) - errors
    print(f"{name}: {errors} error(s), {warnings} warning(s)")
    return 1 if errors or (args.strict and warnings) else 0


def schema_command(args: argparse.Namespace) -> int:
    """Regenerate ``data/ruleset.schema.json`` from the models (or check it is current)."""
    from pathlib import Path

    import bonestore
    from bonestore.domain.rules.schema import ruleset_json_schema_text

    path = Path(bonestore.__file__).parent / "data" / "ruleset.schema.json"
    text = ruleset_json_schema_text()
    if args.check:
        current = path.read_text("utf-8") if path.exists() else ""
        if current != text:
            print(f"{path} is out of date: run `bonestore rules schema`", file=sys.stderr)
            return 1
        print(f"{path}: up to date")
        return 0
    path.write_text(text, "utf-8")
    print(f"wrote {path}")
    return 0


def _engine(path: str | None) -> Any:
    from bonestore.domain.rules import Engine, load_ruleset

    return Engine(load_ruleset(path))


def check_command(args: argparse.Namespace) -> int:
    import json

    from bonestore.domain.catalog import seed_catalog
    from bonestore.domain.errors import BonestoreError
    from bonestore.domain.geo import normalize_destination
    from bonestore.domain.rules import CartLine

    products = {p.sku: p for p in seed_catalog()}
    unknown = [s for s in args.sku if s.upper() not in products]
    if unknown:
        print(f"unknown SKU {unknown[0]!r} (known: {', '.join(products)})", file=sys.stderr)
        return 2
    raw = {
        "country": args.country,
        "subdivision": args.subdivision,
        "postal_code": args.postal_code,
        "line1": args.line1,
    }
    try:
        dest = normalize_destination({k: v for k, v in raw.items() if v is not None})
        engine = _engine(args.ruleset)
    except BonestoreError as exc:
        print(f"{exc.code}: {exc.message}", file=sys.stderr)
        return 2
    if not 1 <= args.qty <= 999:
        print("--qty must be 1 to 999", file=sys.stderr)
        return 2
    lines = [CartLine(products[s.upper()], args.qty) for s in args.sku]
    decision = engine.decide(lines, dest, _parse_at(args.at), trace=args.trace)
    if args.json:
        print(json.dumps(decision.to_json(include_trace=args.trace), indent=2))
        return 0 if decision.eligible else 1

    from rich.table import Table

    console = _console()
    where = " ".join(x for x in (dest.country, dest.subdivision, dest.postal_code, dest.line1) if x)
    console.print(
        f"[bold]{where}[/] at {decision.evaluated_at}, ruleset {decision.ruleset_version}: "
        + ("[green]eligible[/]" if decision.eligible else "[red]not eligible[/]")
    )
    table = Table("SKU", "qty", "eligible", "max", "reasons")
    for item in decision.items:
        reasons = "\n".join(f"{r.rule_id} ({r.code}): {r.message}" for r in item.reasons)
        table.add_row(
            item.sku,
            str(item.quantity),
            "yes" if item.eligible else "no",
            "-" if item.max_quantity is None else str(item.max_quantity),
            reasons or "-",
        )
    console.print(table)
    methods = ", ".join(
        f"{m.id} {m.price.amount / 100:.2f} {m.price.currency}" for m in decision.shipping_methods
    )
    console.print(f"shipping methods: {methods or 'none'}")
    if args.trace:
        trace = Table("SKU", "rule", "effect", "result", "detail")
        for item in decision.items:
            for step in item.trace or []:
                trace.add_row(
                    item.sku, step["rule_id"], step["effect"], step["result"], step["detail"]
                )
        console.print(trace)
    return 0 if decision.eligible else 1


class OrdersTableError(Exception):
    """The orders table cannot be read; the message says why and what to do."""


def _orders_source(args: argparse.Namespace) -> tuple[Any, str, str] | None:
    """(DynamoDB client, table, where) for the orders to replay, or None to replay none."""
    import boto3

    if args.local:
        from bonestore_infra.serve_state import running_stack

        stack = running_stack()
        if stack is None:
            raise OrdersTableError("--local: no running `bonestore serve` found (start it first)")
        table = args.orders_table or stack.tables.get("OrdersTable")
        if not table:
            raise OrdersTableError("--local: the running stack has no OrdersTable")
        from bonestore_infra.local_aws import LOCAL_CREDENTIALS, LOCAL_REGION

        client = boto3.client(
            "dynamodb",
            endpoint_url=stack.aws_endpoint_url,
            region_name=LOCAL_REGION,
            aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )
        return client, table, f"the local stack ({stack.aws_endpoint_url})"
    if not args.orders_table:
        return None
    session = boto3.Session()
    if session.get_credentials() is None and not args.endpoint_url:
        raise OrdersTableError(
            "no AWS credentials found for --orders-table: sign in (e.g. `aws sso login`, "
            "AWS_PROFILE=...), or use --local for the running `bonestore serve`"
        )
    if session.region_name is None and not args.endpoint_url:
        raise OrdersTableError(
            "no AWS region set for --orders-table: set AWS_REGION (the stack's region)"
        )
    client = session.client(
        "dynamodb", endpoint_url=args.endpoint_url, region_name=session.region_name or "us-east-1"
    )
    return client, args.orders_table, args.endpoint_url or f"AWS {session.region_name}"


def _scan_orders(
    client: Any, table: str, where: str, since: datetime
) -> tuple[list[Order], list[OrderFlip]]:
    """The orders created since ``since``, typed by the order repository's own translation,
    and those it cannot read (as rows with ``problem`` set)."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    from bonestore.adapters.dynamo import from_item
    from bonestore.adapters.orders import order_from_record
    from bonestore.domain.orders import iso
    from bonestore.domain.rules.diff import OrderFlip

    cutoff = iso(since)  # the orders' own timestamp format, so strings compare as times
    orders: list[Order] = []
    unreadable: list[OrderFlip] = []
    try:
        for page in client.get_paginator("scan").paginate(TableName=table):
            for item in page.get("Items", []):
                record = from_item(item)
                created = str(record.get("created_at", ""))
                if created < cutoff:
                    continue
                try:
                    orders.append(order_from_record(record))
                except (KeyError, TypeError, ValueError) as exc:
                    problem = f"{type(exc).__name__}: {exc}".splitlines()[0]
                    unreadable.append(
                        OrderFlip(
                            str(record.get("order_id", "?")),
                            str(record.get("status", "?")),
                            created,
                            None,
                            None,
                            problem,
                        )
                    )
    except NoCredentialsError:
        raise OrdersTableError(f"no AWS credentials to read {table} in {where}") from None
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "ResourceNotFoundException":
            raise OrdersTableError(
                f"there is no table {table!r} in {where} (the stack's OrdersTableName output "
                "names it)"
            ) from None
        if code in ("AccessDeniedException", "UnrecognizedClientException"):
            raise OrdersTableError(
                f"{where} refused to let these credentials read {table!r} ({code}): "
                "they need dynamodb:Scan on it"
            ) from None
        if code == "ExpiredTokenException":
            raise OrdersTableError(
                f"the AWS credentials have expired; sign in again ({where})"
            ) from None
        raise OrdersTableError(f"reading {table!r} in {where} failed: {exc}") from None
    except BotoCoreError as exc:
        raise OrdersTableError(f"cannot read {table!r} in {where}: {exc}") from None
    return orders, unreadable


def diff_command(args: argparse.Namespace) -> int:
    from rich.progress import Progress
    from rich.table import Table

    from bonestore.domain.catalog import seed_catalog
    from bonestore.domain.errors import BonestoreError
    from bonestore.domain.rules.diff import (
        change_instants,
        diff_orders,
        diff_over_time,
        probe_destinations,
    )

    try:
        old, new = _engine(args.old), _engine(args.new)
    except (BonestoreError, OSError) as exc:
        print(f"cannot load ruleset: {exc}", file=sys.stderr)
        return 2
    at = _parse_at(args.at)
    if not 0 <= args.window_days <= 3650:
        print("--window-days must be 0 to 3650", file=sys.stderr)
        return 2
    try:
        source = _orders_source(args)
    except OrdersTableError as exc:
        print(f"bonestore rules diff: {exc}", file=sys.stderr)
        return 2
    console = _console()
    console.print(f"{args.old} ({old.version}) -> {args.new} ({new.version})")
    products = seed_catalog()
    destinations = probe_destinations(old, new)
    if at is not None and args.window_from:
        print("give --at (one instant) or --from (a window), not both", file=sys.stderr)
        return 2
    start = at or _parse_at(args.window_from, "--from") or datetime.now(UTC)
    end = start + timedelta(days=args.window_days) if at is None else start + timedelta(0, 1)
    instants = change_instants((old, new), start, end)
    if at is None:
        console.print(
            f"decided at {start:%Y-%m-%d %H:%M} and at {len(instants) - 1} date(s) in the "
            f"{args.window_days} days after it where either ruleset changes"
        )
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("deciding", total=len(instants))
        flips = diff_over_time(
            old, new, products, destinations, start, end, lambda n: progress.advance(task, n)
        )
    if flips:
        table = Table(
            "SKU",
            "destination",
            "when",
            "before",
            "after",
            title=f"{len(flips)} decision(s) flip",
        )
        for timed in flips:
            flip = timed.flip
            when = timed.when
            table.add_row(flip.sku, flip.where, when, str(flip.old), str(flip.new))
        console.print(table)
    else:
        console.print("no product/destination decision changes")

    if source is not None:
        since = datetime.now(UTC) - timedelta(days=args.days)
        try:
            orders, unreadable = _scan_orders(*source, since)
        except OrdersTableError as exc:
            print(f"bonestore rules diff: {exc}", file=sys.stderr)
            return 1
        console.print(f"orders from {source[1]} in {source[2]}")
        changed = unreadable + diff_orders(old, new, orders, at)
        table = Table(
            "order",
            "status",
            "created",
            "decided on",
            "before",
            "after",
            title=f"{len(changed)} of {len(orders) + len(unreadable)} recent order(s) "
            "decided differently",
        )
        for row in changed:
            table.add_row(
                row.order_id,
                row.status,
                row.created_at,
                row.on,
                str(row.old) if row.old else "-",
                str(row.new) if row.new else f"unreadable: {row.problem}",
            )
        console.print(table)
    return 0
