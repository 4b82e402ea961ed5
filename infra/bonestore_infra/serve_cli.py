"""`bonestore serve`: the whole service on loopback."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "serve", help="run the API (:3000), the Stripe emulator (:12111) and an embedded DynamoDB"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000, help="API port")
    parser.add_argument("--stripe-port", type=int, default=12111)
    parser.add_argument(
        "--dynamodb-port", type=int, default=8000, help="embedded DynamoDB (moto) port"
    )
    parser.add_argument("--template", type=Path, default=None)
    parser.add_argument("--no-seed", action="store_true", help="start with empty tables")
    parser.add_argument(
        "--ruleset",
        type=Path,
        default=None,
        help="decide with this ruleset file instead of the packaged one; edits apply at once",
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from bonestore_infra.local_stack import LocalStack, StackConfig

    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:  # boto3 announces where it found credentials on every cold start
        logging.getLogger("botocore").setLevel(logging.WARNING)
    from bonestore_infra.local_aws import IntrinsicResolver
    from bonestore_infra.local_cognito import kept_passwords, pool_groups
    from bonestore_infra.serve_state import clear_state, write_state
    from bonestore_infra.template import DEFAULT_TEMPLATE, Template

    template_path = args.template.resolve() if args.template is not None else DEFAULT_TEMPLATE
    groups = pool_groups(IntrinsicResolver(Template(template_path)))
    config = StackConfig(
        host=args.host,
        api_port=args.port,
        stripe_port=args.stripe_port,
        dynamodb_port=args.dynamodb_port,
        seed=not args.no_seed,
        stripe_api_key=os.environ.get("STRIPE_API_KEY"),
        template_path=template_path,
        staff_passwords=kept_passwords(groups),
        ruleset_path=args.ruleset.resolve() if args.ruleset is not None else None,
    )
    stack = LocalStack(config).start()
    stopped = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopped.set())
    assert stack.aws is not None
    staff = "(the template defines no user pool: no staff sign-in)\n"
    if stack.user_pool is not None:
        state = write_state(stack.running())
        staff = (
            f"Staff sign-in (console, `bonestore support --username`; user pool "
            f"{stack.user_pool.pool_id}; kept in {state.parent}):\n"
        ) + "".join(f"  {u.username:<12} password {u.password}\n" for u in stack.staff_users)
    print(
        "bonestore is running:\n"
        f"  storefront   {stack.api_url}/\n"
        f"  API          {stack.api_url}  (e.g. {stack.api_url}/products)\n"
        f"  console      {stack.api_url}/console\n"
        f"  Stripe       {stack.stripe_url or 'off'}\n"
        f"  AWS (moto)   {stack.aws.endpoint_url}  (DynamoDB, Cognito, SQS, ...)\n"
        f"  fulfilment   OrderPaid -> EventBridge -> FulfilmentQueue -> FulfilmentFunction\n"
        f"  outbox       {stack.api_url}/_dev/outbox  (emails sent through the embedded SES)\n"
        f"  ruleset      {args.ruleset or 'packaged (shared/bonestore/data/ruleset.yaml)'}\n"
        f"{staff}"
        "Press Ctrl-C to stop.",
        flush=True,
    )
    try:
        # A timed wait, not stopped.wait(): Python runs signal handlers only in the main
        # thread between bytecodes, so a main thread parked in an untimed lock wait can
        # miss a Ctrl-C the kernel handed to one of the server threads (seen as a serve
        # that ignored SIGINT for 30 s under load). Waking twice a second runs it.
        while not stopped.wait(0.5):
            pass
    finally:
        print("\nstopping...", flush=True)
        clear_state(stack.api_url)
        stack.stop()
        print("stopped.", flush=True)
    return 0
