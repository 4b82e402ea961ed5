"""``bonestore check invariants``: are stock and orders consistent? (ops and tests)

Reads the products and orders tables and prints every violation of
``bonestore.service.invariants`` (with the product or order it concerns); exits 1 if
there is one, 2 when the tables cannot be read. By default it reads the local stack
``bonestore serve`` runs (embedded DynamoDB on 127.0.0.1:8000); with ``--region`` it
reads AWS with the usual credential chain (``AWS_PROFILE``, SSO, ...), and the table
names are the stack's outputs ``ProductsTableName`` / ``OrdersTableName``.

Ingredient names are judged against this checkout's ruleset (the one the layer
ships). On a live store the two scans are not one snapshot: a violation is reported only if a
second check a moment later finds it too (``--once`` reports the first check's).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bonestore.service.invariants import Violation

DEFAULT_LOCAL_ENDPOINT = "http://127.0.0.1:8000"
LOCAL_TABLES = ("ProductsTable", "OrdersTable")  # local physical names are the logical ids
# The sweeper runs every 5 minutes (template.yaml: rate(5 minutes)) and releases what
# expired more than its grace period ago: a reservation may outlive its expiry by both.
SWEEPER_PERIOD_SECONDS = 300
CONFIRM_AFTER_SECONDS = 2.0


def default_reservation_lag() -> int:
    from bonestore.service.reservations import GRACE_SECONDS

    return GRACE_SECONDS + SWEEPER_PERIOD_SECONDS


class CheckError(Exception):
    """The tables could not be read; the message says why and what to do."""


def register(subparsers: Any) -> None:
    check = subparsers.add_parser("check", help="consistency checks over the tables (ops)")
    sub = check.add_subparsers(dest="check_command", required=True, metavar="SUBCOMMAND")
    parser = sub.add_parser(
        "invariants",
        help="stock counters balance, paid orders have payments, no stale reservations",
    )
    parser.add_argument(
        "--region", default=None, help="read the tables in AWS in this region (default: local)"
    )
    parser.add_argument(
        "--endpoint-url",
        default=None,
        help=f"DynamoDB endpoint (default: {DEFAULT_LOCAL_ENDPOINT} without --region)",
    )
    parser.add_argument("--products-table", default=None, help="the stack's ProductsTableName")
    parser.add_argument("--orders-table", default=None, help="the stack's OrdersTableName")
    parser.add_argument(
        "--sku", action="append", default=None, help="check only this product (repeatable)"
    )
    parser.add_argument(
        "--lag-seconds",
        type=int,
        default=None,
        help="how long past its expiry a reservation may live (default: the sweeper's "
        "grace period + its schedule, 600)",
    )
    parser.add_argument("--once", action="store_true", help="report the first check's findings")
    parser.add_argument("--json", action="store_true", help="print violations as JSON")
    parser.set_defaults(handler=_run)


def _client_and_tables(args: argparse.Namespace) -> tuple[Any, str, str]:
    import boto3

    if args.region is None:
        endpoint = args.endpoint_url or DEFAULT_LOCAL_ENDPOINT
        # The embedded DynamoDB accepts any credentials; never reach for real ones.
        session = boto3.session.Session(
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106 - moto accepts any key
            region_name="us-east-1",
        )
        products, orders = LOCAL_TABLES
        return (
            session.client("dynamodb", endpoint_url=endpoint),
            args.products_table or products,
            args.orders_table or orders,
        )
    if not args.products_table or not args.orders_table:
        raise CheckError(
            "with --region, pass --products-table and --orders-table (the stack's outputs: "
            "aws cloudformation describe-stacks --stack-name STACK "
            "--query 'Stacks[0].Outputs')"
        )
    session = boto3.session.Session(region_name=args.region)
    if session.get_credentials() is None:
        raise CheckError(
            f"no AWS credentials for region {args.region}: set AWS_PROFILE (or run "
            "`aws sso login` / `aws configure`) with read access to both tables"
        )
    client = session.client("dynamodb", endpoint_url=args.endpoint_url)
    return client, args.products_table, args.orders_table


def check_tables(
    client: Any,
    products_table: str,
    orders_table: str,
    *,
    reservation_lag: timedelta,
    skus: Collection[str] | None = None,
    vocabulary: Collection[str] | None = None,
    now: datetime | None = None,
) -> list[Violation]:
    """The invariants' violations in the tables as they are now (tests call it too)."""
    from bonestore.adapters.invariants import read_stock_and_orders
    from bonestore.service.invariants import check_invariants

    products, orders = read_stock_and_orders(client, products_table, orders_table)
    return check_invariants(
        products,
        orders,
        now=now or datetime.now(UTC),
        reservation_lag=reservation_lag,
        skus=skus,
        vocabulary=vocabulary,
    )


def _check(args: argparse.Namespace, client: Any, products: str, orders: str) -> list[Violation]:
    from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

    from bonestore.domain.rules import default_engine

    try:
        return check_tables(
            client,
            products,
            orders,
            reservation_lag=timedelta(seconds=args.lag_seconds),
            skus=[sku.strip().upper() for sku in args.sku] if args.sku else None,
            vocabulary=default_engine().ruleset.ingredients,
        )
    except EndpointConnectionError as exc:
        hint = " (is `bonestore serve` running?)" if args.region is None else ""
        raise CheckError(
            f"cannot reach DynamoDB at {exc.kwargs.get('endpoint_url')}{hint}"
        ) from None
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise CheckError(
            f"DynamoDB refused the scan of {products} / {orders}: "
            f"{error.get('Code')}: {error.get('Message')}"
        ) from None
    except BotoCoreError as exc:
        raise CheckError(f"cannot read the tables: {exc}") from None


def _run(args: argparse.Namespace) -> int:
    if args.lag_seconds is None:
        args.lag_seconds = default_reservation_lag()
    if args.lag_seconds < 0:
        raise SystemExit("bonestore check invariants: --lag-seconds must be 0 or more")
    try:
        client, products, orders = _client_and_tables(args)
        violations = _check(args, client, products, orders)
        if violations and not args.once:
            time.sleep(CONFIRM_AFTER_SECONDS)
            again = {(v.kind, v.subject) for v in _check(args, client, products, orders)}
            violations = [v for v in violations if (v.kind, v.subject) in again]
    except CheckError as exc:
        print(f"bonestore check invariants: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(
            json.dumps(
                [{"kind": v.kind, "subject": v.subject, "message": v.message} for v in violations],
                indent=2,
            )
        )
    else:
        for violation in violations:
            print(violation)
        where = args.region or (args.endpoint_url or DEFAULT_LOCAL_ENDPOINT)
        print(
            f"{len(violations)} violation{'s' if len(violations) != 1 else ''} "
            f"in {products} / {orders} ({where})"
        )
    return 1 if violations else 0
