"""The staff user pool on the embedded AWS: template.yaml's own Cognito pool, client and groups.

moto's Cognito runs in the same in-process server as the tables. The pool, its app
client and its groups are created from the template's definitions (properties resolved
as CloudFormation would), one staff user is seeded per group, and the local gateway
verifies tokens against that pool's JWKS (``bonestore_infra.dev_auth``).

Two moto gaps are closed here so the local pool is as strict as Cognito: an auth flow
the app client does not allow is refused (moto accepts any), and nothing else is
changed. moto signs every pool with one published test key (kid ``dummy``) and issues
tokens valid for one hour, whatever the client says.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import secrets
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bonestore_infra.local_aws import LOCAL_REGION, IntrinsicResolver, LocalAws

# CreateUserPool takes these of AWS::Cognito::UserPool's properties under the same names.
# Left out: EnabledMfas (SetUserPoolMfaConfig's business), tags and Lambda triggers.
_POOL_CREATE_KEYS = (
    "Policies",
    "DeletionProtection",
    "AutoVerifiedAttributes",
    "AliasAttributes",
    "UsernameAttributes",
    "UsernameConfiguration",
    "MfaConfiguration",
    "AdminCreateUserConfig",
    "AccountRecoverySetting",
    "Schema",
    "VerificationMessageTemplate",
)
_GROUP_CREATE_KEYS = ("Description", "Precedence")
STAFF_EMAIL_DOMAIN = "staff.bonestore.local"


@dataclass(frozen=True)
class StaffPool:
    """A staff user pool and its console app client: where to sign in, what tokens must carry.

    Locally ``endpoint_url`` is the embedded AWS (Cognito's JSON API and the pool's JWKS
    are served there); in AWS it is ``https://cognito-idp.<region>.amazonaws.com``.
    """

    endpoint_url: str
    pool_id: str
    client_id: str
    region: str = LOCAL_REGION

    @classmethod
    def in_aws(cls, region: str, pool_id: str, client_id: str) -> StaffPool:
        return cls(f"https://cognito-idp.{region}.amazonaws.com", pool_id, client_id, region)

    @property
    def issuer(self) -> str:
        """The ``iss`` of the pool's tokens: Cognito's public URL, as in AWS."""
        return f"https://cognito-idp.{self.region}.amazonaws.com/{self.pool_id}"

    @property
    def jwks_url(self) -> str:
        return f"{self.endpoint_url}/{self.pool_id}/.well-known/jwks.json"

    def client(self) -> Any:
        """A Cognito client for the local pool (moto takes any credentials for admin calls)."""
        import boto3

        return boto3.client(  # type: ignore[call-overload]
            "cognito-idp",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106 - moto's dummy credentials
        )

    def as_json(self) -> dict[str, str]:
        return {
            "endpoint_url": self.endpoint_url,
            "pool_id": self.pool_id,
            "client_id": self.client_id,
            "region": self.region,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StaffPool:
        return cls(
            endpoint_url=str(data["endpoint_url"]),
            pool_id=str(data["pool_id"]),
            client_id=str(data["client_id"]),
            region=str(data.get("region") or LOCAL_REGION),
        )


@dataclass(frozen=True)
class StaffUser:
    username: str
    password: str
    groups: tuple[str, ...]

    @property
    def email(self) -> str:
        return f"{self.username}@{STAFF_EMAIL_DOMAIN}"


def _single(resolver: IntrinsicResolver, type_name: str) -> tuple[str, dict[str, Any]]:
    found = resolver.template.resources_of_type(type_name)
    if len(found) != 1:
        raise ValueError(f"template.yaml must define exactly one {type_name}, found {len(found)}")
    ((logical_id, resource),) = found.items()
    return logical_id, resource.get("Properties", {})


def create_user_pool(aws: LocalAws, resolver: IntrinsicResolver) -> StaffPool:
    """The template's UserPool, UserPoolClient and UserPoolGroups, on the embedded AWS."""
    _make_moto_enforce_auth_flows()
    cognito = aws.client("cognito-idp")
    _, raw_pool = _single(resolver, "AWS::Cognito::UserPool")
    props = resolver.resolve(raw_pool)
    pool = cognito.create_user_pool(
        PoolName=props["UserPoolName"],
        **{k: props[k] for k in _POOL_CREATE_KEYS if k in props},
    )["UserPool"]
    pool_id = pool["Id"]
    _, raw_client = _single(resolver, "AWS::Cognito::UserPoolClient")
    client_props = {k: v for k, v in resolver.resolve(raw_client).items() if k != "UserPoolId"}
    client = cognito.create_user_pool_client(UserPoolId=pool_id, **client_props)
    for raw_group in resolver.template.resources_of_type("AWS::Cognito::UserPoolGroup").values():
        group = resolver.resolve(raw_group.get("Properties", {}))
        cognito.create_group(
            UserPoolId=pool_id,
            GroupName=group["GroupName"],
            **{k: group[k] for k in _GROUP_CREATE_KEYS if k in group},
        )
    return StaffPool(aws.endpoint_url, pool_id, client["UserPoolClient"]["ClientId"])


def pool_groups(resolver: IntrinsicResolver) -> list[str]:
    return [
        str(resolver.resolve(g.get("Properties", {}))["GroupName"])
        for g in resolver.template.resources_of_type("AWS::Cognito::UserPoolGroup").values()
    ]


def new_password() -> str:
    """A password any pool policy accepts: 20 characters, lower, upper, digit and symbol."""
    alphabet = string.ascii_letters + string.digits + "-_"
    while True:
        password = "".join(secrets.choice(alphabet) for _ in range(20))
        if (
            # A leading "-" reads as an option on a command line (`--password -x...`).
            not password.startswith("-")
            and any(c.islower() for c in password)
            and any(c.isupper() for c in password)
            and any(c.isdigit() for c in password)
            and any(c in "-_" for c in password)
        ):
            return password


def add_staff_user(pool: StaffPool, user: StaffUser) -> None:
    """An administrator-created user with a permanent password (idempotent)."""
    cognito = pool.client()
    with contextlib.suppress(cognito.exceptions.UsernameExistsException):
        cognito.admin_create_user(
            UserPoolId=pool.pool_id,
            Username=user.username,
            UserAttributes=[
                {"Name": "email", "Value": user.email},
                {"Name": "email_verified", "Value": "true"},
            ],
            MessageAction="SUPPRESS",
        )
    cognito.admin_set_user_password(
        UserPoolId=pool.pool_id, Username=user.username, Password=user.password, Permanent=True
    )
    for group in user.groups:
        cognito.admin_add_user_to_group(
            UserPoolId=pool.pool_id, Username=user.username, GroupName=group
        )


def ensure_group(pool: StaffPool, group: str) -> bool:
    """The group exists in the pool (created when it did not; True then), so a token of a
    group the template lacks (``customer``) is a real token too: the API must grant it
    nothing, which only a real token can show."""
    cognito = pool.client()
    try:
        cognito.create_group(UserPoolId=pool.pool_id, GroupName=group)
    except cognito.exceptions.GroupExistsException:
        return False
    return True


def seed_staff(pool: StaffPool, groups: list[str], passwords: dict[str, str]) -> list[StaffUser]:
    """One user per group, named after it (``support``, ``ops``, ``warehouse``)."""
    users = [StaffUser(group, passwords.get(group) or new_password(), (group,)) for group in groups]
    for user in users:
        add_staff_user(pool, user)
    return users


def home() -> Path:
    return Path(os.environ.get("BONESTORE_HOME") or Path.home() / ".bonestore")


def kept_passwords(groups: list[str], path: Path | None = None) -> dict[str, str]:
    """The seeded users' passwords, generated once and kept (0600) in BONESTORE_HOME.

    Kept so a password copied from one ``bonestore serve`` still works after a restart.
    """
    path = path or home() / "staff-passwords.json"
    try:
        kept = {str(k): str(v) for k, v in json.loads(path.read_text("utf-8")).items()}
    except (FileNotFoundError, ValueError, AttributeError):
        kept = {}
    missing = [g for g in groups if not kept.get(g)]
    if missing:
        kept.update({g: new_password() for g in missing})
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(kept, out, indent=2, sort_keys=True)
        os.replace(temporary, path)
    return kept


# ------------------------------------------------------------------ moto, as strict as Cognito


def _make_moto_enforce_auth_flows() -> None:
    """Cognito refuses a flow the app client's ExplicitAuthFlows does not list; moto does not.

    Without this a console that signs in with USER_PASSWORD_AUTH would pass locally
    against a template whose client allows only SRP, and fail in AWS.
    """
    from moto.cognitoidp.exceptions import InvalidParameterException
    from moto.cognitoidp.models import CognitoIdpBackend

    original = CognitoIdpBackend.initiate_auth
    if getattr(original, "_bonestore_strict", False):
        return

    @functools.wraps(original)
    def initiate_auth(
        self: Any, client_id: str, auth_flow: str, auth_parameters: dict[str, str]
    ) -> dict[str, Any]:
        for pool in self.user_pools.values():
            client = pool.clients.get(client_id)
            if client is None:
                continue
            allowed = client.extended_config.get("ExplicitAuthFlows") or []
            wanted = "ALLOW_REFRESH_TOKEN_AUTH" if "REFRESH" in auth_flow else f"ALLOW_{auth_flow}"
            if allowed and wanted not in allowed:
                raise InvalidParameterException(f"{auth_flow} flow not enabled for this client")
        result: dict[str, Any] = original(self, client_id, auth_flow, auth_parameters)
        return result

    initiate_auth._bonestore_strict = True  # type: ignore[attr-defined]
    CognitoIdpBackend.initiate_auth = initiate_auth  # type: ignore[method-assign]
