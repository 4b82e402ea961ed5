"""Local stand-in for the Cognito user pool and API Gateway's Cognito authorizer.

`bonestore dev-token` mints an ID-token-shaped JWT signed with a local key; the
local API verifies it (signature, issuer, audience, expiry with no leeway) and
hands the handler the claims the way API Gateway does: every value a string,
``cognito:groups`` comma-separated.
"""

from __future__ import annotations

import os
import secrets
import time
import uuid
from email.utils import formatdate
from pathlib import Path
from typing import Any

ISSUER = "bonestore-local"
AUDIENCE = "bonestore-local-staff"
ALGORITHM = "HS256"


def key_path() -> Path:
    home = Path(os.environ.get("BONESTORE_HOME", Path.home() / ".bonestore"))
    return home / "dev-token.key"


def signing_key() -> str:
    """The local signing key: BONESTORE_DEV_TOKEN_KEY, else a random key kept in ~/.bonestore."""
    from_env = os.environ.get("BONESTORE_DEV_TOKEN_KEY")
    if from_env:
        return from_env
    path = key_path()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, secrets.token_urlsafe(48).encode())
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
    return path.read_text().strip()


def mint_token(group: str, *, expires_in: int = 3600, username: str | None = None) -> str:
    import jwt

    now = int(time.time())
    username = username or f"dev-{group}"
    claims: dict[str, Any] = {
        "sub": str(uuid.uuid5(uuid.NAMESPACE_URL, f"bonestore-local:{username}")),
        "cognito:groups": [group],
        "cognito:username": username,
        "email": f"{username}@staff.bonestore.local",
        "token_use": "id",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "auth_time": now,
        "iat": now,
        "exp": now + expires_in,
    }
    return jwt.encode(claims, signing_key(), algorithm=ALGORITHM)


def _as_gateway_string(name: str, value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    if name in ("exp", "iat", "auth_time") and isinstance(value, int):
        return formatdate(value, usegmt=True)
    return str(value)


def verify_token(token: str) -> dict[str, str]:
    """Claims as API Gateway passes them, or raise (bad signature, expired, wrong issuer...)."""
    import jwt

    claims = jwt.decode(
        token,
        signing_key(),
        algorithms=[ALGORITHM],
        audience=AUDIENCE,
        issuer=ISSUER,
        leeway=0,
        options={"require": ["exp", "iat", "sub", "token_use"]},
    )
    if claims.get("token_use") != "id":
        raise jwt.InvalidTokenError("not an ID token")
    return {name: _as_gateway_string(name, value) for name, value in claims.items()}
