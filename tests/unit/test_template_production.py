"""House rules for template.yaml: what a careful AWS team ships (issue #6)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bonestore_infra import template_gates as gates
from bonestore_infra.local_aws import IntrinsicResolver
from bonestore_infra.template import Template

pytestmark = pytest.mark.unit

TEMPLATE = Template()
RES = TEMPLATE.resources
GLOBALS = TEMPLATE.globals


@pytest.fixture(scope="module", params=["dev", "prod"])
def cfn(request: pytest.FixtureRequest) -> dict[str, Any]:
    return gates.transform(TEMPLATE, {"Stage": request.param})


def _props(logical_id: str) -> dict[str, Any]:
    props: dict[str, Any] = RES[logical_id].get("Properties", {})
    return props


def test_globals_runtime_tracing_logging() -> None:
    assert GLOBALS["Runtime"] == "python3.13"
    assert GLOBALS["Architectures"] == ["arm64"]
    # Tracing off, consistently (README.md#tracing): never X-Ray without Tracer.
    assert GLOBALS["Tracing"] == "Disabled"
    assert not any("Tracing" in r.get("Properties", {}) for r in RES.values()
                   if r["Type"] == "AWS::Serverless::Function")  # fmt: skip
    assert GLOBALS["LoggingConfig"]["LogFormat"] == "JSON"
    assert GLOBALS["AutoPublishAlias"] == "live"
    env = GLOBALS["Environment"]["Variables"]
    assert {
        "POWERTOOLS_SERVICE_NAME",
        "POWERTOOLS_METRICS_NAMESPACE",
        "POWERTOOLS_LOG_LEVEL",
    } <= set(env)


def test_log_level_differs_per_stage() -> None:
    levels = {
        stage: IntrinsicResolver(TEMPLATE, {"Stage": stage}).resolve(
            GLOBALS["Environment"]["Variables"]["POWERTOOLS_LOG_LEVEL"]
        )
        for stage in ("dev", "prod")
    }
    assert levels == {"dev": "DEBUG", "prod": "INFO"}


def test_layer_builds_for_arm64() -> None:
    layer = RES["SharedLayer"]
    # shared/Makefile: the same arm64 wheels as SAM's python3.13 build, plus .pyc files.
    assert layer["Metadata"] == {"BuildMethod": "makefile", "BuildArchitecture": "arm64"}
    assert _props("SharedLayer")["CompatibleArchitectures"] == ["arm64"]


@pytest.mark.parametrize("fid", sorted(TEMPLATE.functions()))
def test_function_has_log_group_size_and_deployment_alarms(fid: str) -> None:
    props = _props(fid)
    assert "MemorySize" in props and props["Description"]
    group = props["LoggingConfig"]["LogGroup"]["Ref"]
    assert RES[group]["Type"] == "AWS::Logs::LogGroup"
    assert "RetentionInDays" in RES[group]["Properties"]
    alarms = {a["Ref"] for a in props["DeploymentPreference"]["Alarms"]}
    for alarm in alarms:
        assert RES[alarm]["Type"] == "AWS::CloudWatch::Alarm"
        assert RES[alarm]["Properties"]["AlarmActions"] == [{"Ref": "AlarmTopic"}]
    kinds = {RES[a]["Properties"].get("MetricName") for a in alarms}
    assert {"Errors", "Throttles"} <= kinds
    # Errors it caught and answered (or logged) count too: Lambda's Errors misses them.
    assert any(a.endswith("FailuresAlarm") for a in alarms), alarms
    assert isinstance(props["ReservedConcurrentExecutions"], int | dict)


def test_log_groups_are_not_shared() -> None:
    groups = [_props(f)["LoggingConfig"]["LogGroup"]["Ref"] for f in TEMPLATE.functions()]
    assert len(groups) == len(set(groups))


def test_canary_in_prod_all_at_once_in_dev(cfn: dict[str, Any]) -> None:
    groups = [
        r for r in cfn["Resources"].values() if r["Type"] == "AWS::CodeDeploy::DeploymentGroup"
    ]
    assert len(groups) == len(TEMPLATE.functions())
    for group in groups:
        config = json.dumps(group["Properties"]["DeploymentConfigName"])
        assert "Canary10Percent5Minutes" in config and "AllAtOnce" in config
        assert group["Properties"]["AlarmConfiguration"]["Enabled"] is True
        assert group["Properties"]["AutoRollbackConfiguration"]["Enabled"] is True


def test_webhook_failures_roll_back_the_webhook() -> None:
    alarms = {a["Ref"] for a in _props("StripeWebhookFunction")["DeploymentPreference"]["Alarms"]}
    assert "WebhookServerErrorsAlarm" in alarms


def test_each_canary_is_gated_by_its_own_alarms_only(cfn: dict[str, Any]) -> None:
    """One bad function rolls back that function, not all seven (issue 16)."""
    assert "Alarms" not in GLOBALS["DeploymentPreference"]
    seen: dict[str, str] = {}
    for fid in TEMPLATE.functions():
        for alarm in (a["Ref"] for a in _props(fid)["DeploymentPreference"]["Alarms"]):
            assert seen.setdefault(alarm, fid) == fid, f"{alarm} gates {seen[alarm]} and {fid}"
    groups = [
        r["Properties"]
        for r in cfn["Resources"].values()
        if r["Type"] == "AWS::CodeDeploy::DeploymentGroup"
    ]
    alarm_sets = [
        frozenset(a["Name"]["Ref"] for a in g["AlarmConfiguration"]["Alarms"]) for g in groups
    ]
    assert all(alarm_sets) and len(set().union(*alarm_sets)) == sum(map(len, alarm_sets))


@pytest.mark.parametrize("table", ["ProductsTable", "OrdersTable", "IdempotencyTable"])
def test_tables_on_demand(table: str) -> None:
    assert _props(table)["BillingMode"] == "PAY_PER_REQUEST"


@pytest.mark.parametrize("table", ["ProductsTable", "OrdersTable"])
def test_business_tables_are_recoverable_and_retained_in_prod(table: str) -> None:
    props = _props(table)
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert props["DeletionProtectionEnabled"] == {"Fn::If": ["IsProd", True, False]}
    # RetainExceptOnCreate: a failed first deploy removes what it made, so it can be retried.
    assert RES[table]["DeletionPolicy"] == {"Fn::If": ["IsProd", "RetainExceptOnCreate", "Delete"]}
    assert RES[table]["UpdateReplacePolicy"] == {"Fn::If": ["IsProd", "Retain", "Delete"]}
    assert "AWS::LanguageExtensions" in TEMPLATE.doc["Transform"]


def test_idempotency_table_expires_records() -> None:
    assert _props("IdempotencyTable")["TimeToLiveSpecification"] == {
        "AttributeName": "expiration",
        "Enabled": True,
    }


def test_staff_routes_need_cognito_and_public_ones_do_not() -> None:
    for route in TEMPLATE.routes():
        staff = route.path.startswith(("/support", "/admin"))
        assert (route.authorizer == "CognitoAuthorizer") == staff, route


def test_api_throttles_logs_and_validates() -> None:
    api = _props("Api")
    assert api["TracingEnabled"] is False
    assert "DestinationArn" in api["AccessLogSetting"]
    settings = api["MethodSettings"][0]
    assert settings["ResourcePath"] == "/*" and "ThrottlingRateLimit" in settings
    for route in TEMPLATE.routes():
        if route.method in ("POST", "PUT") and route.path != "/webhooks/stripe":
            event = _props(route.function_id)["Events"][route.event_id]["Properties"]
            assert event.get("RequestModel", {}).get("ValidateBody") is True, route


@pytest.mark.parametrize(
    ("response", "status", "code"),
    [
        ("MISSING_AUTHENTICATION_TOKEN", "404", "not_found"),
        ("UNAUTHORIZED", "401", "unauthorized"),
        ("ACCESS_DENIED", "403", "forbidden"),
        ("BAD_REQUEST_BODY", "400", "invalid_json"),
        ("UNSUPPORTED_MEDIA_TYPE", "415", "unsupported_media_type"),
        ("REQUEST_TOO_LARGE", "413", "payload_too_large"),
        ("THROTTLED", "429", "throttled"),
        ("DEFAULT_5XX", None, "internal_error"),
    ],
)
def test_gateway_errors_use_the_contract_body(response: str, status: str | None, code: str) -> None:
    spec = _props("Api")["GatewayResponses"][response]
    assert spec.get("StatusCode") == status
    body = spec["ResponseTemplates"]["application/json"]
    parsed = json.loads(body.replace("$context.error.messageString", '"m"'))
    assert parsed["error"]["code"] == code and parsed["error"]["message"]
    assert "Access-Control-Allow-Origin" in spec["ResponseParameters"]["Headers"]


def test_secrets_never_in_parameters_or_environment() -> None:
    for name, spec in TEMPLATE.doc["Parameters"].items():
        assert "key" not in name.lower() or spec.get("NoEcho"), name
    for fn in TEMPLATE.functions().values():
        for variable in fn.environment:
            assert not any(w in variable for w in ("API_KEY", "WEBHOOK_SECRET")), variable
    # Created empty: no value in the template that a redeploy could write over the live keys.
    secret = _props("StripeSecret")
    assert "SecretString" not in secret and "GenerateSecretString" not in secret
    for retained in ("StripeSecret", "UserPool"):
        assert RES[retained]["DeletionPolicy"] == {
            "Fn::If": ["IsProd", "RetainExceptOnCreate", "Delete"]
        }


def test_async_paths_have_dead_letters() -> None:
    sweeper = _props("ReservationSweeperFunction")
    schedule = sweeper["Events"]["Every5Minutes"]["Properties"]
    assert schedule["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": ["AsyncFailureQueue", "Arn"]}
    assert sweeper["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]["Type"] == "SQS"
    target = _props("OrderPaidRule")["Targets"][0]
    assert "DeadLetterConfig" in target
    assert _props("OrderPaidRule")["EventPattern"] == {"detail-type": ["OrderPaid"]}
    assert "RedrivePolicy" in _props("FulfilmentQueue")


def test_storefront_bucket_is_private_behind_cloudfront_oac() -> None:
    block = _props("StorefrontBucket")["PublicAccessBlockConfiguration"]
    assert all(block.values())
    origins = _props("StorefrontDistribution")["DistributionConfig"]["Origins"]
    s3 = next(o for o in origins if o["Id"] == "storefront")
    assert s3["OriginAccessControlId"] == {"Fn::GetAtt": ["StorefrontOriginAccessControl", "Id"]}


def test_outputs_for_operators() -> None:
    assert {
        "ApiUrl",
        "StripeWebhookUrl",
        "StorefrontUrl",
        "StorefrontBucketName",
        "StorefrontDistributionId",
        "UserPoolId",
        "UserPoolClientId",
        "StripeSecretArn",
        "AlarmTopicArn",
    } <= set(TEMPLATE.doc["Outputs"])


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_local_resolver_yields_plain_strings(stage: str) -> None:
    """`bonestore serve` puts these in os.environ: every value must resolve to text."""
    resolver = IntrinsicResolver(TEMPLATE, {"Stage": stage})
    for fn in TEMPLATE.functions().values():
        for variable, value in fn.environment.items():
            resolved = resolver.resolve(value)
            assert isinstance(resolved, str | int), (fn.logical_id, variable, resolved)


# --- issue 15/16: what on-call sees, what the edge refuses, what a fresh account accepts


def test_dashboard_is_valid_json_and_names_only_real_resources() -> None:
    import re

    body = _props("OperationsDashboard")["DashboardBody"]["Fn::Sub"]
    names = set(re.findall(r"\$\{([A-Za-z0-9:]+)(?:\.[A-Za-z]+)?\}", body))
    assert names - {"AWS::Region", "AWS::StackName", "Stage"} <= set(RES), names - set(RES)
    widgets = json.loads(re.sub(r"\$\{[^}]+\}", "x", body))["widgets"]
    alarms = next(w for w in widgets if w["type"] == "alarm")["properties"]["alarms"]
    assert len(alarms) >= 10
    assert "${CheckoutServerErrorsAlarm.Arn}" in body and "${OrdersHeldAlarm.Arn}" in body


@pytest.mark.parametrize("acl", ["CloudFrontWebAcl", "ApiWebAcl"])
def test_web_acls_answer_in_the_contract_body(acl: str) -> None:
    props = _props(acl)
    for key, body in props["CustomResponseBodies"].items():
        error = json.loads(body["Content"])["error"]
        assert error["code"] == key and error["message"], key
    rules = [r for r in props["Rules"] if "Name" in r]
    managed = {
        r["Statement"]["ManagedRuleGroupStatement"]["Name"]
        for r in rules
        if "ManagedRuleGroupStatement" in r["Statement"]
    }
    assert managed == {
        "AWSManagedRulesCommonRuleSet",
        "AWSManagedRulesKnownBadInputsRuleSet",
        "AWSManagedRulesAmazonIpReputationList",
    }
    rate_paths = {
        _path_of(r["Statement"]["RateBasedStatement"]["ScopeDownStatement"])
        for r in rules
        if "RateBasedStatement" in r["Statement"]
    }
    assert rate_paths == {"/checkout", "/eligibility"}
    for rule in rules:
        if "Action" in rule:  # every block carries one of the bodies above
            custom = rule["Action"]["Block"]["CustomResponse"]
            assert custom["CustomResponseBodyKey"] in props["CustomResponseBodies"], rule["Name"]


def _path_of(scope_down: dict[str, Any]) -> str:
    """The path a rate rule counts (its scope-down's first path match)."""
    statement = scope_down.get("AndStatement", {}).get("Statements", [scope_down])[0]
    return str(statement["ByteMatchStatement"]["SearchString"])


def _rules(acl: str) -> list[dict[str, Any]]:
    return [r for r in _props(acl)["Rules"] if "Name" in r]


EDGE_SECRET = {"Fn::Select": [2, {"Fn::Split": ["/", {"Ref": "AWS::StackId"}]}]}


@pytest.mark.parametrize("acl", ["CloudFrontWebAcl", "ApiWebAcl"])
def test_no_rate_rule_counts_by_an_address_the_client_writes(acl: str) -> None:
    """X-Forwarded-For's first entry is the client's to choose: never a rate key."""
    rates = [
        r["Statement"]["RateBasedStatement"]
        for r in _rules(acl)
        if "RateBasedStatement" in r["Statement"]
    ]
    assert rates and all(rate["AggregateKeyType"] == "IP" for rate in rates)
    assert "X-Forwarded-For" not in json.dumps(_props(acl))
    if acl == "ApiWebAcl":  # direct callers only: CloudFront's traffic is the storefront ACL's
        for rate in rates:
            proof = rate["ScopeDownStatement"]["AndStatement"]["Statements"][1]
            match = proof["NotStatement"]["Statement"]["ByteMatchStatement"]
            assert match["FieldToMatch"] == {"SingleHeader": {"Name": "x-bonestore-edge"}}
            assert match["SearchString"] == EDGE_SECRET


def test_the_viewer_address_reaches_checkout_and_cannot_be_forged_past_the_edge() -> None:
    distribution = _props("StorefrontDistribution")["DistributionConfig"]
    api = next(o for o in distribution["Origins"] if o["Id"] == "api")
    assert api["OriginCustomHeaders"] == [
        {"HeaderName": "X-Bonestore-Edge", "HeaderValue": EDGE_SECRET}
    ]
    checkout = next(b for b in distribution["CacheBehaviors"] if b["PathPattern"] == "/checkout")
    assert checkout["OriginRequestPolicyId"] == {"Ref": "CheckoutOriginRequestPolicy"}
    headers = _props("CheckoutOriginRequestPolicy")["OriginRequestPolicyConfig"]["HeadersConfig"]
    # A list (all viewer headers would include Host, which API Gateway refuses).
    assert headers["HeaderBehavior"] == "whitelist"
    assert {"CloudFront-Viewer-Address", "Content-Type", "Idempotency-Key"} <= set(
        headers["Headers"]
    )
    forged = next(r for r in _rules("ApiWebAcl") if r["Name"] == "forged-viewer-address")
    present, unproven = forged["Statement"]["AndStatement"]["Statements"]
    assert present["SizeConstraintStatement"]["FieldToMatch"] == {
        "SingleHeader": {"Name": "cloudfront-viewer-address"}
    }
    assert (
        unproven["NotStatement"]["Statement"]["ByteMatchStatement"]["SearchString"] == EDGE_SECRET
    )


@pytest.mark.parametrize(
    ("acl", "resource"), [("CloudFrontWebAcl", "CLOUDFRONT"), ("ApiWebAcl", "API_GATEWAY")]
)
def test_bodies_the_contract_accepts_pass_the_edge_and_larger_ones_get_its_413(
    acl: str, resource: str
) -> None:
    props = _props(acl)
    # WAF reads whole bodies up to 64 KB (the default 16 KB would leave padded bodies unread).
    limit = props["AssociationConfig"]["RequestBody"][resource]["DefaultSizeInspectionLimit"]
    assert limit == "KB_64"
    crs = next(r for r in _rules(acl) if r["Name"] == "common-rule-set")
    assert crs["OverrideAction"] == {"None": {}}
    overrides = {
        o["Name"]: o["ActionToUse"]
        for o in crs["Statement"]["ManagedRuleGroupStatement"]["RuleActionOverrides"]
    }
    assert overrides.pop("SizeRestrictions_BODY") == {"Count": {}}  # 8 KB < the contract's 64 KiB
    assert len(overrides) >= 20 and all(
        action["Block"]["CustomResponse"]["CustomResponseBodyKey"] == "forbidden"
        for action in overrides.values()
    )
    too_large = next(r for r in _rules(acl) if r["Name"] == "body-too-large")
    size = too_large["Statement"]["AndStatement"]["Statements"][0]["SizeConstraintStatement"]
    assert size["FieldToMatch"] == {"Body": {"OversizeHandling": "MATCH"}}
    assert (size["ComparisonOperator"], size["Size"]) == ("GT", 65536)
    assert too_large["Action"]["Block"]["CustomResponse"] == {
        "ResponseCode": 413,
        "CustomResponseBodyKey": "payload_too_large",
    }
    # Nothing blocks on the set's labels any more (its size label is on every valid 9-64 KiB body).
    block = next(r for r in _rules(acl) if r["Name"] == "block-managed-matches")
    assert "core-rule-set" not in json.dumps(block)


def test_kill_switch_rule_exists_only_when_checkout_is_paused() -> None:
    first = _props("ApiWebAcl")["Rules"][0]["Fn::If"]
    assert first[0] == "IsCheckoutPaused" and first[2] == {"Ref": "AWS::NoValue"}
    paused = first[1]["Action"]["Block"]["CustomResponse"]
    assert paused["ResponseCode"] == 503
    assert paused["CustomResponseBodyKey"] == "checkout_unavailable"


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_reserved_concurrency_leaves_the_account_its_unreserved_100(stage: str) -> None:
    resolver = IntrinsicResolver(TEMPLATE, {"Stage": stage})
    total = sum(
        int(resolver.resolve(_props(fid)["ReservedConcurrentExecutions"]))
        for fid in TEMPLATE.functions()
    )
    # Lambda keeps 100 unreserved; dev and prod may share a 1,000 account quota.
    assert total <= 400, total
    sweeper = _props("ReservationSweeperFunction")["ReservedConcurrentExecutions"]
    assert sweeper == 1  # two sweeps never race each other


def test_alarm_topic_is_one_cloudwatch_can_publish_to() -> None:
    assert _props("AlarmTopic")["KmsMasterKeyId"] == {"Ref": "MonitoringKey"}
    statements = _props("MonitoringKey")["KeyPolicy"]["Statement"]
    cloudwatch = [
        s for s in statements if s["Principal"].get("Service") == "cloudwatch.amazonaws.com"
    ]
    assert cloudwatch and {"kms:Decrypt", "kms:GenerateDataKey*"} <= set(cloudwatch[0]["Action"])
    rule = TEMPLATE.doc["Rules"]["ProdPagesSomeone"]
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "Stage"}, "prod"]}


def test_every_log_group_is_encrypted_and_every_bucket_logs() -> None:
    for lid, group in TEMPLATE.resources_of_type("AWS::Logs::LogGroup").items():
        assert group["Properties"]["KmsKeyId"] == {"Fn::GetAtt": ["MonitoringKey", "Arn"]}, lid
    assert "LoggingConfiguration" in _props("StorefrontBucket")
    logging = _props("StorefrontDistribution")["DistributionConfig"]["Logging"]
    assert logging["Bucket"] == {"Fn::GetAtt": ["AccessLogBucket", "DomainName"]}
    assert _props("AccessLogBucket")["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"]


def test_same_origin_prod_names_no_origin_and_no_distribution(cfn: dict[str, Any]) -> None:
    text = json.dumps(cfn["Resources"]["Api"])
    assert "StorefrontDistribution" not in text
    for fid in TEMPLATE.functions():
        assert "StorefrontDistribution" not in json.dumps(cfn["Resources"][fid])
