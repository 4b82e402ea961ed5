"""`bonestore dev-token`: a real ID token from the running local stack's Cognito pool."""

from __future__ import annotations

import argparse
import sys
from typing import Any

NO_GROUP = "none"


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "dev-token",
        help="sign a staff user in to the local user pool and print its ID token "
        "(needs a running `bonestore serve`)",
        description="Signs in to the Cognito user pool of the running `bonestore serve` "
        "(USER_PASSWORD_AUTH, as the console does) and prints the ID token, for "
        "`Authorization: Bearer ...`. Without --username it signs in as the seeded user "
        "of the group.",
    )
    parser.add_argument(
        "--group",
        required=True,
        help=f"any group name: support, ops or warehouse (the pool's groups), another name "
        f"(e.g. customer: created in the local pool, granted nothing), or {NO_GROUP!r} for "
        "a signed-in user in no group",
    )
    parser.add_argument(
        "--username",
        default=None,
        help="create (or reset) this user in the group and sign it in",
    )
    parser.add_argument(
        "--expires-in",
        type=int,
        default=None,
        metavar="SECONDS",
        help="re-issue the token with this lifetime (negative: already expired). Cognito "
        "and moto issue 1-hour tokens; locally the pool's key is moto's published test "
        "key, so the token is re-signed with it. Local only.",
    )
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    from bonestore_infra.dev_auth import SignInError, issue_token, sign_in, with_lifetime
    from bonestore_infra.local_cognito import ensure_group
    from bonestore_infra.serve_state import running_stack

    stack = running_stack()
    if stack is None:
        print(
            "bonestore dev-token: no running `bonestore serve` found (it writes its user "
            "pool to $BONESTORE_HOME/serve.json); start it first",
            file=sys.stderr,
        )
        return 1
    group = None if args.group == NO_GROUP else args.group
    try:
        if group is not None and ensure_group(stack.user_pool, group):
            # The contract's dev-token takes any group name (`customer` included): a
            # token of a group the API does not know must be as real as a staff one.
            print(
                f"bonestore dev-token: created group {group!r} in the local user pool "
                "(the template has no such group; the API grants it nothing)",
                file=sys.stderr,
            )
        seeded = stack.user_in(group) if group and not args.username else None
        if seeded is not None:
            token = str(sign_in(stack.user_pool, seeded.username, seeded.password)["IdToken"])
        else:
            token = issue_token(stack.user_pool, group, username=args.username)
    except SignInError as exc:
        print(f"bonestore dev-token: {exc}", file=sys.stderr)
        return 1
    except (ClientError, BotoCoreError) as exc:  # admin API: unknown group, stale state file
        print(f"bonestore dev-token: the local user pool refused: {exc}", file=sys.stderr)
        return 1
    if args.expires_in is not None:
        token = with_lifetime(token, args.expires_in)
    print(token)
    return 0
