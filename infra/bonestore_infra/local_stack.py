"""Everything `bonestore serve` runs, as one object tests can start too.

embedded AWS (moto) -> tables/secret/bus/staff user pool from template.yaml -> seed ->
Stripe emulator -> local API Gateway routing to the template's handlers, staff routes
behind the pool's Cognito authorizer.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bonestore_infra.local_aws import (
    IntrinsicResolver,
    LocalAws,
    apply_environment,
    create_other_resources,
    create_tables,
    ensure_port_free,
    seed_catalog,
    start_local_aws,
)
from bonestore_infra.local_cognito import (
    StaffPool,
    StaffUser,
    create_user_pool,
    pool_groups,
    seed_staff,
)
from bonestore_infra.serve_state import RunningStack
from bonestore_infra.template import DEFAULT_TEMPLATE, Template

log = logging.getLogger("bonestore_infra.serve")

# Documented in the README; local only, never used in AWS.
DEFAULT_WEBHOOK_SECRET = "whsec_bonestore_local_dev"  # noqa: S105
EMULATOR_API_KEY = "sk_test_bonestore_emulator"  # the emulator accepts any sk_test_ key
CONSOLE_CONFIG_PATH = "/static/console-config.json"


@dataclass
class StackConfig:
    host: str = "127.0.0.1"
    api_port: int = 3000
    stripe_port: int = 12111
    dynamodb_port: int = 0
    template_path: Path = DEFAULT_TEMPLATE
    stage: str = "dev"
    seed: bool = True
    stripe_api_key: str | None = None  # a real sk_test_ key talks to Stripe instead of the emulator
    webhook_secret: str = field(
        default_factory=lambda: os.environ.get("STRIPE_WEBHOOK_SECRET") or DEFAULT_WEBHOOK_SECRET
    )
    with_stripe: bool = True
    webhook_retry_delays: tuple[float, ...] = (1, 2, 4, 8, 16)
    # Seeded staff users' passwords by group; missing ones are generated for this run.
    staff_passwords: dict[str, str] = field(default_factory=dict)
    # Template parameters other than their defaults (e.g. the checkout limits).
    parameters: dict[str, str] = field(default_factory=dict)


class LocalStack:
    def __init__(self, config: StackConfig | None = None) -> None:
        self.config = config or StackConfig()
        self.template = Template(self.config.template_path)
        self.resolver = IntrinsicResolver(self.template, self.config.parameters)
        self.aws: LocalAws | None = None
        self.api: Any = None
        self.stripe: Any = None
        self.user_pool: StaffPool | None = None
        self.staff_users: list[StaffUser] = []
        self._saved_environ: dict[str, str] | None = None

    @property
    def api_url(self) -> str:
        return str(self.api.url)

    @property
    def stripe_url(self) -> str | None:
        return str(self.stripe.url) if self.stripe is not None else None

    def function_environment(self) -> dict[str, str]:
        """Union of every function's resolved environment (they agree on shared names)."""
        env: dict[str, str] = {}
        for fn in self.template.functions().values():
            for key, value in fn.environment.items():
                env[key] = str(self.resolver.resolve(value))
        return env

    def start(self) -> LocalStack:
        cfg = self.config
        if cfg.api_port:
            ensure_port_free(cfg.host, cfg.api_port, "local API")
        if cfg.with_stripe and cfg.stripe_port:
            ensure_port_free(cfg.host, cfg.stripe_port, "Stripe emulator")
        # The stack points this process's environment and cached clients at itself;
        # stop() puts both back, so stacks started one after another (tests) don't leak.
        self._saved_environ = dict(os.environ)
        self.aws = start_local_aws(cfg.host, cfg.dynamodb_port)
        try:
            self._start_rest()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_rest(self) -> None:
        from bonestore_infra.dev_auth import CognitoAuthorizer
        from bonestore_infra.local_api import LocalApi

        cfg = self.config
        assert self.aws is not None
        real_stripe = bool(cfg.stripe_api_key and cfg.stripe_api_key.startswith("sk_test_"))
        apply_environment(self.aws.environment)
        apply_environment(self.function_environment())
        create_tables(self.aws, self.template)
        create_other_resources(
            self.aws,
            self.resolver,
            {
                "api_key": cfg.stripe_api_key
                if real_stripe and cfg.stripe_api_key
                else EMULATOR_API_KEY,
                "webhook_secret": cfg.webhook_secret,
            },
        )
        if cfg.seed:
            created = seed_catalog(self.aws, self.resolver.ref("ProductsTable"))
            log.info("seeded %d products", created)
        from bonestore_infra.local_outbox import OUTBOX_PAGES

        authorizer: CognitoAuthorizer | None = None
        pages = dict(OUTBOX_PAGES)
        connect: tuple[str, ...] = ()
        if self.template.resources_of_type("AWS::Cognito::UserPool"):
            self.user_pool = create_user_pool(self.aws, self.resolver)
            self.staff_users = seed_staff(
                self.user_pool, pool_groups(self.resolver), cfg.staff_passwords
            )
            authorizer = CognitoAuthorizer(self.user_pool)
            console_config = self.console_config()
            pages[CONSOLE_CONFIG_PATH] = lambda: ("application/json", console_config)
            connect = (self.user_pool.endpoint_url,)
        self.api = LocalApi(
            self.template,
            host=cfg.host,
            port=cfg.api_port,
            stage=cfg.stage,
            authorizer=authorizer,  # none: a template without a pool serves no staff route
            dev_pages=pages,
            connect_sources=connect,
        )
        # Email links open this local storefront. In AWS the functions that send email
        # read it from the stack's SSM parameter (STOREFRONT_URL_PARAMETER names it): the
        # embedded AWS holds the same parameter, so the same path runs here.
        os.environ["STOREFRONT_URL"] = self.api.url
        parameter = self.function_environment().get("STOREFRONT_URL_PARAMETER")
        if parameter:
            self.aws.client("ssm").put_parameter(
                Name=parameter, Value=self.api.url, Type="String", Overwrite=True
            )
        if cfg.with_stripe:
            from bonestore_infra.stripe_emulator import StripeEmulator

            self.stripe = StripeEmulator(
                host=cfg.host,
                port=cfg.stripe_port,
                webhook_url=f"{self.api.url}/webhooks/stripe",
                webhook_secret=cfg.webhook_secret,
                retry_delays=cfg.webhook_retry_delays,
            )
            self.stripe.start()
            if not real_stripe:
                os.environ["STRIPE_API_BASE"] = self.stripe.url
        _reset_process_caches()
        self.api.start()

    def running(self) -> RunningStack:
        """What other commands need to know of this stack (``bonestore serve`` writes it)."""
        assert self.aws is not None and self.user_pool is not None
        return RunningStack(
            api_url=self.api_url,
            aws_endpoint_url=self.aws.endpoint_url,
            tables={t: self.resolver.ref(t) for t in self.template.tables()},
            user_pool=self.user_pool,
            staff_users=tuple(self.staff_users),
        )

    def console_config(self) -> bytes:
        """The template's ConsoleConfig output for this pool, plus the local Cognito endpoint.

        In AWS the deploy uploads the stack's output as /static/console-config.json and
        the page calls https://cognito-idp.<region>.amazonaws.com/; locally it calls moto.
        """
        assert self.user_pool is not None
        # Refs to the pool and its client resolve to their local physical ids.
        physical = IntrinsicResolver(
            self.template,
            {"UserPool": self.user_pool.pool_id, "UserPoolClient": self.user_pool.client_id},
        )
        output = self.template.doc["Outputs"]["ConsoleConfig"]["Value"]
        config = json.loads(physical.resolve(output))
        config["endpoint"] = self.user_pool.endpoint_url + "/"
        return json.dumps(config).encode()

    def stop(self) -> None:
        for part in (self.api, self.stripe, self.aws):
            if part is not None:
                try:
                    part.stop()
                except Exception:
                    log.exception("error stopping %s", type(part).__name__)
        if self._saved_environ is not None:
            os.environ.clear()
            os.environ.update(self._saved_environ)
            self._saved_environ = None
            _reset_process_caches()


def _reset_process_caches() -> None:
    """Settings and clients are read once per 'cold start'; a new stack is a new cold start."""
    from bonestore.adapters.dynamo import dynamodb_client
    from bonestore.api import deps
    from bonestore.config import get_settings

    get_settings.cache_clear()
    dynamodb_client.cache_clear()
    deps.reset()
    # Powertools Parameters keeps its providers (an SSM client on the old endpoint, and
    # the values it read) for the process.
    from aws_lambda_powertools.utilities.parameters import base

    base.DEFAULT_PROVIDERS.clear()  # type: ignore[attr-defined]
