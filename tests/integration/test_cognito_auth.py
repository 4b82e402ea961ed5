"""Staff sign-in through the local Cognito pool, and the gateway's check of each token.

The local gateway must refuse (401) every token API Gateway's Cognito authorizer would:
another pool's, another app client's, an access token, an expired one, a tampered or
foreign signature, and hand the handler the claims in the REST proxy event's shape.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

import jwt
import pytest

from bonestore_infra.dev_auth import InvalidToken, gateway_claims, sign_in, with_lifetime
from bonestore_infra.local_cognito import StaffPool, StaffUser, add_staff_user, new_password
from tests.helpers import Http, assert_error
from tests.staff_tokens import staff_token

pytestmark = pytest.mark.integration

STAFF_ROUTE = "/support/orders?status=held"  # support and ops may read it


def signed_by_another_key(token: str) -> str:
    """The same header (kid included) and claims, signed by a freshly made RSA key."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": header["kid"]})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign_in_new_user(pool: StaffPool, group: str, client_id: str | None = None) -> Any:
    user = StaffUser(f"user-{uuid.uuid4().hex[:10]}", new_password(), (group,))
    add_staff_user(pool, user)
    if client_id is not None:
        pool = StaffPool(pool.endpoint_url, pool.pool_id, client_id, pool.region)
    return sign_in(pool, user.username, user.password)


def test_a_seeded_user_signs_in_and_reaches_a_staff_route(api: Http, local_stack: Any) -> None:
    support = next(u for u in local_stack.staff_users if u.username == "support")
    result = sign_in(local_stack.user_pool, support.username, support.password)
    claims = jwt.decode(result["IdToken"], options={"verify_signature": False})
    assert claims["iss"] == local_stack.user_pool.issuer
    assert claims["aud"] == local_stack.user_pool.client_id
    assert claims["cognito:groups"] == ["support"]
    assert api.get(STAFF_ROUTE, token=result["IdToken"]).status == 200


def test_every_group_of_the_template_has_a_seeded_user(local_stack: Any) -> None:
    groups = {g for u in local_stack.staff_users for g in u.groups}
    assert groups == {"support", "ops", "warehouse"}
    for user in local_stack.staff_users:
        assert len(user.password) >= 12


def test_a_wrong_password_is_refused_by_the_pool(local_stack: Any) -> None:
    from bonestore_infra.dev_auth import SignInError

    with pytest.raises(SignInError, match="NotAuthorized"):
        sign_in(local_stack.user_pool, "support", "Wrong-password-123")


def test_a_token_of_another_pool_is_401(api: Http, local_stack: Any) -> None:
    """moto signs every pool with one key, so only the issuer tells them apart, as it must."""
    cognito = local_stack.user_pool.client()
    other_id = cognito.create_user_pool(PoolName="another-pool")["UserPool"]["Id"]
    client_id = cognito.create_user_pool_client(
        UserPoolId=other_id, ClientName="x", ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH"]
    )["UserPoolClient"]["ClientId"]
    cognito.create_group(UserPoolId=other_id, GroupName="ops")
    other = StaffPool(local_stack.user_pool.endpoint_url, other_id, client_id)
    token = _sign_in_new_user(other, "ops")["IdToken"]
    assert jwt.get_unverified_header(token)["kid"] in _pool_kids(local_stack.user_pool)
    assert_error(api.get(STAFF_ROUTE, token=token), 401, "unauthorized")


def _pool_kids(pool: StaffPool) -> set[str]:
    import urllib.request

    with urllib.request.urlopen(pool.jwks_url, timeout=10) as response:
        return {key["kid"] for key in json.loads(response.read())["keys"]}


def test_a_token_for_another_app_client_is_401(api: Http, local_stack: Any) -> None:
    pool = local_stack.user_pool
    client_id = pool.client().create_user_pool_client(
        UserPoolId=pool.pool_id, ClientName="not-the-console", ExplicitAuthFlows=[]
    )["UserPoolClient"]["ClientId"]
    token = _sign_in_new_user(pool, "ops", client_id)["IdToken"]
    assert jwt.decode(token, options={"verify_signature": False})["aud"] == client_id
    assert_error(api.get(STAFF_ROUTE, token=token), 401, "unauthorized")


def test_an_access_token_is_401(api: Http, local_stack: Any) -> None:
    result = _sign_in_new_user(local_stack.user_pool, "ops")
    claims = jwt.decode(result["AccessToken"], options={"verify_signature": False})
    assert claims["token_use"] == "access" and "ops" in claims["cognito:groups"]
    assert_error(api.get(STAFF_ROUTE, token=result["AccessToken"]), 401, "unauthorized")
    assert api.get(STAFF_ROUTE, token=result["IdToken"]).status == 200


def test_an_expired_token_is_401_with_no_leeway(api: Http) -> None:
    assert_error(api.get(STAFF_ROUTE, token=staff_token("ops", expires_in=-1)), 401)
    assert api.get(STAFF_ROUTE, token=staff_token("ops", expires_in=30)).status == 200


def test_tampered_and_foreign_signatures_are_401(api: Http) -> None:
    token = staff_token("support")
    assert api.get(STAFF_ROUTE, token=token).status == 200
    head, payload, signature = token.split(".")

    claims = json.loads(_unb64(payload))
    claims["cognito:groups"] = ["ops"]
    promoted = f"{head}.{_b64(json.dumps(claims).encode())}.{signature}"
    flipped = f"{head}.{payload}.{_b64(bytes([_unb64(signature)[0] ^ 1]) + _unb64(signature)[1:])}"
    unsigned = jwt.encode(claims, key=None, algorithm="none")
    unknown_kid = jwt.encode(claims, "x" * 32, algorithm="HS256", headers={"kid": "other"})
    for bad in (promoted, flipped, unsigned, unknown_kid, signed_by_another_key(token)):
        assert_error(api.get(STAFF_ROUTE, token=bad), 401, "unauthorized")


def test_an_hs256_token_keyed_with_the_public_key_is_401(api: Http, local_stack: Any) -> None:
    """Algorithm confusion: the JWKS is public, so an HMAC over it must never verify."""
    import urllib.request

    with urllib.request.urlopen(local_stack.user_pool.jwks_url, timeout=10) as response:
        public_jwks = response.read()
    claims = jwt.decode(staff_token("ops"), options={"verify_signature": False})
    head = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "dummy"}).encode())
    body = _b64(json.dumps(claims).encode())
    import hashlib
    import hmac

    mac = hmac.new(public_jwks, f"{head}.{body}".encode(), hashlib.sha256).digest()
    assert_error(api.get(STAFF_ROUTE, token=f"{head}.{body}.{_b64(mac)}"), 401)


def test_the_authorizer_gives_the_claims_as_a_rest_api_event_carries_them(
    local_stack: Any,
) -> None:
    user = StaffUser("two-groups", new_password(), ("support", "warehouse"))
    add_staff_user(local_stack.user_pool, user)
    token = sign_in(local_stack.user_pool, user.username, user.password)["IdToken"]
    claims = local_stack.api.authorizer(token)
    assert all(isinstance(v, str) for v in claims.values())
    assert sorted(claims["cognito:groups"].split(",")) == ["support", "warehouse"]
    assert claims["cognito:username"] == "two-groups"
    assert claims["email"] == "two-groups@staff.bonestore.local"  # the client's ReadAttributes
    assert claims["token_use"] == "id"
    assert claims["auth_time"].isdigit()
    time.strptime(claims["exp"], "%a %b %d %H:%M:%S UTC %Y")  # e.g. Tue Apr 04 18:39:39 UTC 2023


def test_gateway_claims_formats_each_kind_of_value() -> None:
    out = gateway_claims(
        {"exp": 1680633579, "iat": 1680629979, "auth_time": 1680629979, "email_verified": True}
        | {"cognito:groups": ["a", "b"], "sub": "s"}
    )
    assert out == {
        "exp": "Tue Apr 04 18:39:39 UTC 2023",
        "iat": "Tue Apr 04 17:39:39 UTC 2023",
        "auth_time": "1680629979",
        "email_verified": "true",
        "cognito:groups": "a,b",
        "sub": "s",
    }


def test_the_authorizer_raises_invalid_token_on_garbage(local_stack: Any) -> None:
    for junk in ("", "a.b", "not.a.jwt", "e30.e30.", with_lifetime(staff_token("ops"), -5)):
        with pytest.raises(InvalidToken):
            local_stack.api.authorizer(junk)


def test_the_pool_refuses_a_flow_its_client_does_not_allow(local_stack: Any) -> None:
    """As Cognito does (moto alone would not): the template's client must list the flow."""
    from bonestore_infra.dev_auth import SignInError

    pool = local_stack.user_pool
    srp_only = pool.client().create_user_pool_client(
        UserPoolId=pool.pool_id, ClientName="srp-only", ExplicitAuthFlows=["ALLOW_USER_SRP_AUTH"]
    )["UserPoolClient"]["ClientId"]
    with pytest.raises(SignInError, match="USER_PASSWORD_AUTH flow not enabled"):
        _sign_in_new_user(pool, "ops", srp_only)


def test_the_console_config_names_the_pool_and_its_client(api: Http, local_stack: Any) -> None:
    response = api.get("/static/console-config.json")
    assert response.status == 200
    config = response.json()
    assert config == {
        "region": "us-east-1",
        "userPoolId": local_stack.user_pool.pool_id,
        "clientId": local_stack.user_pool.client_id,
        "endpoint": local_stack.user_pool.endpoint_url + "/",
    }
