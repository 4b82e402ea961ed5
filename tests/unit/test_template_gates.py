"""The template against the code it deploys: handlers, environment, IAM, routes.

All offline: the template is translated by aws-sam-translator; the code is read by
static analysis (bonestore_infra.template_gates explains how).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bonestore_infra import template_gates as gates
from bonestore_infra.template import DEFAULT_TEMPLATE, FunctionDef, Template

pytestmark = pytest.mark.unit

TEMPLATE = Template()
FUNCTION_IDS = sorted(TEMPLATE.functions())


@pytest.fixture(scope="module")
def cfn() -> dict[str, Any]:
    return gates.transform(TEMPLATE)


@pytest.fixture(scope="module")
def usages() -> dict[str, gates.CodeUsage]:
    return {
        fid: gates.analyze_function(fn)
        for fid, fn in TEMPLATE.functions().items()
        if fn.module_path.is_file()
    }


def _function(fid: str) -> FunctionDef:
    fn = TEMPLATE.functions()[fid]
    if not fn.module_path.is_file():
        pytest.fail(f"{fid}: {fn.module_path} does not exist (Handler {fn.handler})")
    return fn


def _report(problems: list[gates.Problem]) -> str:
    return "\n".join(str(p) for p in problems)


def test_one_function_per_route_group() -> None:
    assert (
        sorted(
            [
                "CatalogFunction",
                "EligibilityFunction",
                "CheckoutFunction",
                "StripeWebhookFunction",
                "OrdersFunction",
                "SupportFunction",
                "AdminFunction",
                "ReservationSweeperFunction",
                "FulfilmentFunction",
            ]
        )
        == FUNCTION_IDS
    )


@pytest.mark.parametrize("fid", FUNCTION_IDS)
def test_handler_resolves_to_a_callable(fid: str) -> None:
    problems = gates.check_handler(_function(fid))
    assert not problems, _report(problems)


@pytest.mark.parametrize("fid", FUNCTION_IDS)
def test_environment_sets_what_the_code_reads(fid: str, usages: dict[str, gates.CodeUsage]) -> None:
    fn = _function(fid)
    problems = gates.check_environment(TEMPLATE, fn, usages[fid])
    assert not problems, _report(problems)


@pytest.mark.parametrize("fid", FUNCTION_IDS)
def test_iam_grants_what_the_code_calls_and_no_more(
    fid: str, cfn: dict[str, Any], usages: dict[str, gates.CodeUsage]
) -> None:
    fn = _function(fid)
    problems = gates.check_permissions(TEMPLATE, cfn, fn, usages[fid])
    assert not problems, _report(problems)


@pytest.mark.parametrize("fid", FUNCTION_IDS)
def test_routes_agree_between_template_and_code(fid: str) -> None:
    problems = gates.check_routes(TEMPLATE, _function(fid))
    assert not problems, _report(problems)


def test_analysis_traces_each_table_to_its_setting(usages: dict[str, gates.CodeUsage]) -> None:
    catalog = usages["CatalogFunction"]
    assert set(catalog.tables) == {"products_table"}
    assert catalog.tables["products_table"] <= gates.DYNAMODB_READ_ACTIONS
    assert not catalog.reads_secret and not catalog.publishes_events
    checkout = usages["CheckoutFunction"]
    assert {"dynamodb:PutItem", "dynamodb:UpdateItem"} <= checkout.tables["orders_table"]
    assert checkout.reads_secret


# --- the gates catch the mistakes they exist for ------------------------------------


def _mutated(tmp_path: Path, old: str, new: str, *, within: str | None = None) -> Template:
    text = DEFAULT_TEMPLATE.read_text("utf-8")
    start = text.index(f"  {within}:\n") if within else 0
    at = text.index(old, start)
    path = tmp_path / "template.yaml"
    path.write_text(text[:at] + new + text[at + len(old) :], "utf-8")
    return Template(path)


def test_write_policy_on_a_read_only_table_is_caught(
    tmp_path: Path, usages: dict[str, gates.CodeUsage]
) -> None:
    template = _mutated(
        tmp_path, "DynamoDBReadPolicy", "DynamoDBCrudPolicy", within="CatalogFunction"
    )
    fn = template.functions()["CatalogFunction"]
    problems = gates.check_permissions(
        template, gates.transform(template), fn, usages["CatalogFunction"]
    )
    assert any("only reads ProductsTable" in p.message for p in problems), _report(problems)


def test_missing_write_permission_is_caught(
    tmp_path: Path, usages: dict[str, gates.CodeUsage]
) -> None:
    template = _mutated(
        tmp_path, "DynamoDBCrudPolicy", "DynamoDBReadPolicy", within="AdminFunction"
    )
    fn = template.functions()["AdminFunction"]
    problems = gates.check_permissions(
        template, gates.transform(template), fn, usages["AdminFunction"]
    )
    # a product write is one UpdateItem (a replace must not overwrite reservations)
    assert any("dynamodb:UpdateItem" in p.message for p in problems), _report(problems)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        # No mapping feeds the queue to the function: its poller grant explains nothing.
        ("      FunctionName: !Ref FulfilmentFunction.Alias\n",
         "      FunctionName: !Ref ReservationSweeperFunction.Alias\n",
         "unexplained grant"),
        # A mapping explains receiving and deleting, never sending.
        ("[sqs:ReceiveMessage, sqs:DeleteMessage, sqs:GetQueueAttributes]",
         "[sqs:ReceiveMessage, sqs:DeleteMessage, sqs:GetQueueAttributes, sqs:SendMessage]",
         "grant ['sqs:SendMessage'] on polled queue FulfilmentQueue"),
    ],
)  # fmt: skip
def test_queue_grants_beyond_the_event_source_mapping_are_caught(
    tmp_path: Path, usages: dict[str, gates.CodeUsage], old: str, new: str, expected: str
) -> None:
    template = _mutated(tmp_path, old, new)
    fn = template.functions()["FulfilmentFunction"]
    problems = gates.check_permissions(
        template, gates.transform(template), fn, usages["FulfilmentFunction"]
    )
    assert any(expected in p.message for p in problems), _report(problems)


def test_unset_environment_variable_is_caught(
    tmp_path: Path, usages: dict[str, gates.CodeUsage]
) -> None:
    template = _mutated(tmp_path, "        ORDERS_TABLE: !Ref OrdersTable\n", "")
    fn = template.functions()["SupportFunction"]
    problems = gates.check_environment(template, fn, usages["SupportFunction"])
    assert [p.message for p in problems] == [
        "the code reads ORDERS_TABLE, the template does not set it"
    ]


def test_local_only_variable_is_caught(tmp_path: Path, usages: dict[str, gates.CodeUsage]) -> None:
    template = _mutated(
        tmp_path,
        "        POWERTOOLS_SERVICE_NAME: bonestore\n",
        "        POWERTOOLS_SERVICE_NAME: bonestore\n        STRIPE_API_BASE: http://x\n",
    )
    fn = template.functions()["CatalogFunction"]
    problems = gates.check_environment(template, fn, usages["CatalogFunction"])
    assert any("STRIPE_API_BASE is local-only" in p.message for p in problems)


def test_route_missing_from_the_template_is_caught(tmp_path: Path) -> None:
    template = _mutated(tmp_path, "Path: /products/{sku}", "Path: /products/{id}")
    problems = gates.check_routes(template, template.functions()["CatalogFunction"])
    messages = sorted(p.message for p in problems)
    assert any("GET /products/{id}" in m for m in messages), messages
    assert any("serves GET /products/{sku}" in m for m in messages), messages


def test_unresolvable_handler_is_reported(tmp_path: Path) -> None:
    template = _mutated(
        tmp_path, "Handler: app.lambda_handler", "Handler: app.nope", within="CatalogFunction"
    )
    problems = gates.check_handler(template.functions()["CatalogFunction"])
    assert problems and "no callable 'nope'" in problems[0].message


_SES_GRANT = """        # Customer emails (paid, held, refunded), from its own sender identity only.
        - Statement:
            - Effect: Allow
              Action: ses:SendEmail
              Resource: !Sub "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/${SenderEmail}"
"""


def test_email_grants_follow_the_code(tmp_path: Path, usages: dict[str, gates.CodeUsage]) -> None:
    # The webhook sends (paid/held/refunded): without its grant it is caught; a grant on a
    # function that never sends (the catalog) is refused as unused.
    assert usages["StripeWebhookFunction"].sends_email
    assert not usages["CatalogFunction"].sends_email
    webhook = TEMPLATE.functions()["StripeWebhookFunction"]
    cfn = gates.transform(TEMPLATE)
    assert gates.check_permissions(TEMPLATE, cfn, webhook, usages["StripeWebhookFunction"]) == []
    stripped = _mutated(tmp_path, _SES_GRANT, "", within="StripeWebhookFunction")
    missing = gates.check_permissions(
        stripped,
        gates.transform(stripped),
        stripped.functions()["StripeWebhookFunction"],
        usages["StripeWebhookFunction"],
    )
    assert any("sends email; ses:SendEmail on SenderEmail" in p.message for p in missing)
    read = "        - DynamoDBReadPolicy:\n            TableName: !Ref ProductsTable\n"
    granted = _mutated(tmp_path, read, read + _SES_GRANT, within="CatalogFunction")
    unused = gates.check_permissions(
        granted,
        gates.transform(granted),
        granted.functions()["CatalogFunction"],
        usages["CatalogFunction"],
    )
    assert any("ses:SendEmail" in p.message and "never uses" in p.message for p in unused)


_SSM_GRANT = """        # Its email links: the storefront URL parameter, by name (no edge to it).
        - Statement:
            - Effect: Allow
              Action: ssm:GetParameter
              Resource: !Sub "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/${AWS::StackName}/storefront-url"
"""
_SSM_NAME = '          STOREFRONT_URL_PARAMETER: !Sub "/${AWS::StackName}/storefront-url"\n'


def _parameter_problems(template: Template, usage: gates.CodeUsage, fid: str) -> list[str]:
    fn = template.functions()[fid]
    return [
        p.message
        for p in gates.check_permissions(template, gates.transform(template), fn, usage)
        + gates.check_environment(template, fn, usage)
    ]


def test_storefront_url_parameter_follows_the_code(
    tmp_path: Path, usages: dict[str, gates.CodeUsage]
) -> None:
    """The functions that send email read the storefront URL parameter by name, with
    GetParameter on exactly its ARN; the template's own STOREFRONT_URL (the cycle) is gone."""
    senders = {fid for fid, usage in usages.items() if usage.sends_email}
    readers = {fid for fid, usage in usages.items() if usage.reads_parameter}
    assert senders == readers == {"StripeWebhookFunction", "SupportFunction", "ReservationSweeperFunction", "AdminFunction", "FulfilmentFunction"}  # fmt: skip
    for fid in sorted(readers):
        assert _parameter_problems(TEMPLATE, usages[fid], fid) == [], fid
    webhook = usages["StripeWebhookFunction"]
    ungranted = _mutated(tmp_path, _SSM_GRANT, "", within="StripeWebhookFunction")
    assert _parameter_problems(ungranted, webhook, "StripeWebhookFunction") == [
        "reads /${AWS::StackName}/storefront-url; ssm:GetParameter not granted"
    ]
    by_ref = _mutated(
        tmp_path, _SSM_NAME, "          STOREFRONT_URL_PARAMETER: !Ref StorefrontUrlParameter\n",
        within="StripeWebhookFunction",
    )  # fmt: skip
    assert any("a !Ref would make a cycle" in m for m in _parameter_problems(by_ref, webhook, "StripeWebhookFunction"))  # fmt: skip
    other = _mutated(tmp_path, '/${AWS::StackName}/storefront-url"\n', '/other"\n')  # the resource
    assert any("no AWS::SSM::Parameter is named /${AWS::StackName}/storefront-url" in m for m in _parameter_problems(other, webhook, "StripeWebhookFunction"))  # fmt: skip
    value = "        STOREFRONT_ORIGIN: !Ref StorefrontOrigin\n"
    deployed = _mutated(tmp_path, value, value + "        STOREFRONT_URL: https://x.example\n")
    assert "STOREFRONT_URL is local-only and must not be deployed" in _parameter_problems(deployed, webhook, "StripeWebhookFunction")  # fmt: skip
    catalog = usages["CatalogFunction"]
    read = "        - DynamoDBReadPolicy:\n            TableName: !Ref ProductsTable\n"
    granted = _mutated(tmp_path, read, read + _SSM_GRANT, within="CatalogFunction")
    assert any("SSM access" in m for m in _parameter_problems(granted, catalog, "CatalogFunction"))


_ADMIN_SES_GRANT = """        # A shipment tells the customer (carrier, tracking), from its sender identity only.
        - Statement:
            - Effect: Allow
              Action: ses:SendEmail
              Resource: !Sub "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/${SenderEmail}"
"""
_ADMIN_SECRET_GRANT = """        - AWSSecretsManagerGetSecretValuePolicy:
            SecretArn: !Ref StripeSecret
"""


@pytest.mark.parametrize(
    ("grant", "expected"),
    [
        (_ADMIN_SES_GRANT, "sends email; ses:SendEmail on SenderEmail"),
        # The shipped email's link needs the order-token key, kept in the Stripe secret.
        (_ADMIN_SECRET_GRANT, "reads the Stripe secret; GetSecretValue on it is not granted"),
    ],
)
def test_the_admin_function_needs_its_shipped_email_grants(
    tmp_path: Path, usages: dict[str, gates.CodeUsage], grant: str, expected: str
) -> None:
    admin = usages["AdminFunction"]
    assert admin.sends_email and admin.reads_secret
    stripped = _mutated(tmp_path, grant, "", within="AdminFunction")
    problems = gates.check_permissions(
        stripped,
        gates.transform(stripped),
        stripped.functions()["AdminFunction"],
        admin,
    )
    assert any(expected in p.message for p in problems), _report(problems)


def test_the_admin_function_needs_the_secret_name(
    tmp_path: Path, usages: dict[str, gates.CodeUsage]
) -> None:
    variable = "          STRIPE_SECRET_NAME: !Ref StripeSecretName\n"
    stripped = _mutated(tmp_path, variable, "          UNUSED: x\n", within="AdminFunction")
    problems = gates.check_environment(
        stripped, stripped.functions()["AdminFunction"], usages["AdminFunction"]
    )
    assert "the code reads STRIPE_SECRET_NAME, the template does not set it" in [
        p.message for p in problems
    ]
