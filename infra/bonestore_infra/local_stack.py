"""Everything `bonestore serve` runs, as one object tests can start too.

embedded AWS (moto) -> tables/secret/bus/queues/rules/staff user pool from template.yaml
-> seed -> Stripe emulator -> local API Gateway routing to the template's handlers, staff
routes behind the pool's Cognito authorizer -> the SQS event sources (FulfilmentQueue ->
FulfilmentFunction), so ``OrderPaid`` goes EventBridge -> SQS -> fulfilment as in AWS.

``StackConfig.ruleset_path`` (``bonestore serve --ruleset FILE``) makes the functions
decide with that ruleset file instead of the packaged one, read again whenever the file
changes: the local way to try a rule change on a running stack. It replaces the
``rules_engine`` provider (``bonestore.api.deps``) in this process only; nothing in the
deployed code reads it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bonestore_infra.local_aws import (
    IntrinsicResolver,
    LocalAws,
    apply_environment,
    create_event_rules,
    create_other_resources,
    create_queues,
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
from bonestore_infra.local_event_source import SqsEventSource, sqs_mappings
from bonestore_infra.serve_state import RunningStack
from bonestore_infra.template import DEFAULT_TEMPLATE, Template

if TYPE_CHECKING:
    from bonestore.domain.rules import Engine

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
    # A ruleset file the functions decide with instead of the packaged one (re-read on change).
    ruleset_path: Path | None = None
    # Replaces the queues' VisibilityTimeout (tests: a failed message is back in seconds).
    queue_visibility_timeout: int | None = None
    # False: the SQS event sources start paused (a test resumes them when it wants).
    event_sources_enabled: bool = True


class RulesetFile:
    """The engine for a ruleset file, built again whenever the file's content changes.

    A file that no longer parses raises on every decision (the functions fail and their
    events are retried): a ruleset that cannot be read never lets an order through.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._digest: bytes | None = None
        self._engine: Engine | None = None

    def engine(self) -> Engine:
        from bonestore.domain.rules import Engine
        from bonestore.domain.rules.loader import parse_ruleset

        text = self.path.read_text("utf-8")
        digest = hashlib.sha256(text.encode()).digest()
        with self._lock:
            if digest != self._digest or self._engine is None:
                self._engine = Engine(parse_ruleset(text, str(self.path))[0])
                self._digest = digest
                log.info("ruleset %s loaded: version %s", self.path, self._engine.version)
            return self._engine


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
        self.event_sources: dict[str, SqsEventSource] = {}
        self._saved_environ: dict[str, str] | None = None
        self._overrides = contextlib.ExitStack()

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
        create_queues(self.aws, self.resolver, visibility_timeout=cfg.queue_visibility_timeout)
        create_event_rules(self.aws, self.resolver)
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
        if cfg.ruleset_path is not None:
            from bonestore.api import deps

            ruleset = RulesetFile(Path(cfg.ruleset_path))
            ruleset.engine()  # a broken file stops the start, not the first order
            self._overrides.enter_context(deps.override(deps.rules_engine, ruleset.engine))
        self.api.start()
        for mapping in sqs_mappings(self.resolver):
            source = SqsEventSource(mapping, self.aws, self.api.pools[mapping.function_id].invoke)
            if not cfg.event_sources_enabled:
                source.pause()
            source.start()
            self.event_sources[mapping.logical_id] = source

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
        # The pollers end within one long poll: told first and awaited once the API and
        # the emulator are down (the waits overlap), before the embedded AWS goes.
        for source in self.event_sources.values():
            source.stop(wait=False)
        self._stop_parts(self.api, self.stripe)
        for source in self.event_sources.values():
            self._stop_parts(source)
        self.event_sources.clear()
        self._overrides.close()
        self._stop_parts(self.aws)
        if self._saved_environ is not None:
            os.environ.clear()
            os.environ.update(self._saved_environ)
            self._saved_environ = None
            _reset_process_caches()

    @staticmethod
    def _stop_parts(*parts: Any) -> None:
        for part in parts:
            if part is not None:
                try:
                    part.stop()
                except Exception:
                    log.exception("error stopping %s", type(part).__name__)


def _reset_process_caches() -> None:
    """Settings and clients are read once per 'cold start'; a new stack is a new cold start.

    Every cached client goes: one made before the stack (a unit test in the same process,
    say) points at another endpoint, and would fail every call it serves."""
    from bonestore.adapters.dynamo import dynamodb_client
    from bonestore.adapters.events import events_client
    from bonestore.adapters.parameters import forget_cached_parameters
    from bonestore.adapters.secrets import forget_cached_secrets
    from bonestore.api import deps
    from bonestore.config import get_settings

    get_settings.cache_clear()
    dynamodb_client.cache_clear()
    events_client.cache_clear()
    forget_cached_secrets()
    forget_cached_parameters()  # an SSM client on the old endpoint, and what it read
    deps.reset()
