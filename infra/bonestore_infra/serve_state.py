"""What a running `bonestore serve` tells the other commands: its API, embedded AWS and pool.

`bonestore serve` writes ``$BONESTORE_HOME/serve.json`` (0600: it holds the local staff
users' passwords) once it is up and removes it on stop; `dev-token`, `support` and
`rules diff --local` read it, so nobody copies endpoints or sets AWS variables by hand.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from bonestore_infra.local_cognito import StaffPool, StaffUser, home


def state_path() -> Path:
    return home() / "serve.json"


@dataclass(frozen=True)
class RunningStack:
    api_url: str
    aws_endpoint_url: str
    tables: dict[str, str]  # logical id (OrdersTable...) -> local table name
    user_pool: StaffPool
    staff_users: tuple[StaffUser, ...]

    def user_in(self, group: str) -> StaffUser | None:
        return next((u for u in self.staff_users if group in u.groups), None)


def write_state(stack: RunningStack) -> Path:
    path = state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "api_url": stack.api_url,
        "aws_endpoint_url": stack.aws_endpoint_url,
        "tables": stack.tables,
        "user_pool": stack.user_pool.as_json(),
        "staff_users": [
            {"username": u.username, "password": u.password, "groups": list(u.groups)}
            for u in stack.staff_users
        ],
    }
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(state, out, indent=2)
    os.replace(temporary, path)
    return path


def running_stack() -> RunningStack | None:
    """The running `bonestore serve`, or None when none has written its state."""
    try:
        state = json.loads(state_path().read_text("utf-8"))
        return RunningStack(
            api_url=str(state["api_url"]),
            aws_endpoint_url=str(state["aws_endpoint_url"]),
            tables={str(k): str(v) for k, v in state["tables"].items()},
            user_pool=StaffPool.from_json(state["user_pool"]),
            staff_users=tuple(
                StaffUser(str(u["username"]), str(u["password"]), tuple(u["groups"]))
                for u in state["staff_users"]
            ),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def clear_state(api_url: str) -> None:
    """Remove the state file if it still describes the stack at ``api_url``."""
    stack = running_stack()
    if stack is not None and stack.api_url == api_url:
        state_path().unlink(missing_ok=True)
