"""`bonestore dev-token`: a bearer token for the local API."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "dev-token",
        help="print a bearer token the local API accepts (as Cognito's authorizer would)",
    )
    parser.add_argument("--group", required=True, help="group claim, e.g. support, ops, customer")
    parser.add_argument("--expires-in", type=int, default=3600, metavar="SECONDS")
    parser.add_argument("--username", default=None)
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from bonestore_infra.dev_auth import mint_token

    if args.expires_in < 1:
        raise SystemExit("bonestore dev-token: --expires-in must be at least 1 second")
    print(mint_token(args.group, expires_in=args.expires_in, username=args.username))
    return 0
