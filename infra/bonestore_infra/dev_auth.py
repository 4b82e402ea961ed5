"""Staff sign-in against the local Cognito pool, and API Gateway's Cognito authorizer.

:class:`CognitoAuthorizer` checks a bearer token as API Gateway's Cognito user pool
authorizer does before a staff route runs: an RS256 signature by a key of the pool's
JWKS (chosen by ``kid``), the pool's issuer, ``token_use`` ``id``, the console's app
client as audience, and expiry with no leeway. It then hands the handler the claims
the way a REST API (v1) proxy event carries them in ``requestContext.authorizer.claims``:
every value a string, ``cognito:groups`` comma-joined (``"support,ops"``), ``exp`` and
``iat`` as ``"Tue Apr 04 18:39:39 UTC 2023"``, ``auth_time`` as epoch seconds, booleans
``"true"``/``"false"``.

:func:`sign_in` is what the console does: Cognito's ``InitiateAuth`` with
``USER_PASSWORD_AUTH`` against the pool's endpoint.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

from bonestore_infra.local_cognito import (
    StaffPool,
    StaffUser,
    add_staff_user,
    new_password,
)

# A REST API's Cognito authorizer formats these claims as dates (java.util.Date.toString).
_DATE_CLAIMS = frozenset({"exp", "iat"})
_GATEWAY_DATE = "%a %b %d %H:%M:%S UTC %Y"
JWKS_REFRESH_SECONDS = 300


class InvalidToken(Exception):
    """The token would not pass API Gateway's Cognito authorizer (a 401)."""


class CognitoAuthorizer:
    """The ``authorizer`` callable LocalApi takes: token -> gateway claims, or raise."""

    def __init__(self, pool: StaffPool, audiences: tuple[str, ...] | None = None) -> None:
        self.pool = pool
        self.audiences = audiences or (pool.client_id,)
        self._jwks: Any = None
        self._lock = threading.Lock()

    def _client(self) -> Any:
        import jwt

        with self._lock:
            if self._jwks is None:
                # Keys are cached; an unknown kid refetches the set (Cognito rotates keys).
                self._jwks = jwt.PyJWKClient(
                    self.pool.jwks_url, cache_keys=True, lifespan=JWKS_REFRESH_SECONDS, timeout=5
                )
            return self._jwks

    def __call__(self, token: str) -> dict[str, str]:
        import jwt

        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") != "RS256" or not header.get("kid"):
                raise InvalidToken("not an RS256 token with a key id")
            key = self._client().get_signing_key(header["kid"])
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=["RS256"],
                issuer=self.pool.issuer,
                leeway=0,
                options={
                    "require": ["exp", "iat", "iss", "sub", "token_use"],
                    "verify_aud": False,  # checked below, after token_use, for a clear reason
                },
            )
        except InvalidToken:
            raise
        except jwt.PyJWKClientError as exc:
            raise InvalidToken(f"signing key not in the pool's JWKS: {exc}") from None
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"{type(exc).__name__}: {exc}") from None
        if claims.get("token_use") != "id":
            raise InvalidToken(f"token_use is {claims.get('token_use')!r}, not an ID token")
        if claims.get("aud") not in self.audiences:
            raise InvalidToken("the token was issued to another app client")
        return gateway_claims(claims)


def gateway_claims(claims: dict[str, Any]) -> dict[str, str]:
    """Claims as a REST API's Cognito authorizer puts them in the proxy event."""
    return {name: _as_gateway_string(name, value) for name, value in claims.items()}


def _as_gateway_string(name: str, value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if name in _DATE_CLAIMS and isinstance(value, int | float):
        return datetime.fromtimestamp(int(value), UTC).strftime(_GATEWAY_DATE)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# ------------------------------------------------------------------ signing in


class SignInError(Exception):
    """Cognito refused the sign-in (wrong password, unknown user, flow not allowed...)."""


def sign_in(pool: StaffPool, username: str, password: str) -> dict[str, Any]:
    """Cognito's AuthenticationResult (IdToken, AccessToken, ExpiresIn...) for a password."""
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    # InitiateAuth is a public call (the console makes it from a browser): no AWS credentials.
    cognito = boto3.client(
        "cognito-idp",
        endpoint_url=pool.endpoint_url,
        region_name=pool.region,
        config=Config(signature_version=UNSIGNED, retries={"max_attempts": 2}),
    )
    try:
        answer = cognito.initiate_auth(
            ClientId=pool.client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": username, "PASSWORD": password},
        )
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise SignInError(f"{error.get('Code')}: {error.get('Message')}") from None
    except BotoCoreError as exc:
        raise SignInError(f"cannot reach the user pool at {pool.endpoint_url}: {exc}") from None
    if answer.get("ChallengeName") == "NEW_PASSWORD_REQUIRED":
        raise SignInError(
            "this is a temporary password: sign in to the console once to choose your own"
        )
    if "AuthenticationResult" not in answer:
        raise SignInError(
            f"Cognito asks for {answer.get('ChallengeName')}, which only the console offers"
        )
    result: dict[str, Any] = answer["AuthenticationResult"]
    return result


def issue_token(
    pool: StaffPool,
    group: str | None,
    *,
    username: str | None = None,
    expires_in: int | None = None,
) -> str:
    """A real ID token of the local pool for ``username`` in ``group`` (None: in no group).

    The user is created (or its password reset) through the admin API, then signs in
    with USER_PASSWORD_AUTH exactly as the console does.
    """
    user = StaffUser(
        username or f"dev-{group or 'no-group'}", new_password(), (group,) if group else ()
    )
    add_staff_user(pool, user)
    token = str(sign_in(pool, user.username, user.password)["IdToken"])
    return token if expires_in is None else with_lifetime(token, expires_in)


def with_lifetime(id_token: str, expires_in: int) -> str:
    """The pool's ID token re-issued with another lifetime, signed with the local pool's key.

    moto (like Cognito, whose shortest ID token lives 5 minutes) always issues tokens
    valid for an hour. Tests and `dev-token --expires-in` need shorter ones (expired,
    even): moto signs every local pool with one published test key, so locally the
    claims can be re-signed with it. In AWS nobody holds the pool's key; this is local only.
    """
    import jwt
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
    from moto.utilities.utils import load_resource

    claims = jwt.decode(id_token, options={"verify_signature": False})
    header = jwt.get_unverified_header(id_token)
    now = int(time.time())
    claims["exp"] = now + expires_in
    claims["iat"] = min(int(claims.get("iat", now)), claims["exp"] - 1)
    claims["auth_time"] = min(int(claims.get("auth_time", now)), claims["iat"])
    private = jwt.algorithms.RSAAlgorithm.from_jwk(
        load_resource("cognitoidp/resources/jwks-private.json")
    )
    assert isinstance(private, RSAPrivateKey)
    return jwt.encode(claims, private, algorithm="RS256", headers={"kid": header.get("kid")})
