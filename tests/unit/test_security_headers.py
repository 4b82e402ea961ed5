"""The pages' security headers: one policy, locally and through CloudFront."""

from __future__ import annotations

import pytest

from bonestore_infra.local_api import CONTENT_SECURITY_POLICY, SECURITY_HEADERS
from bonestore_infra.local_aws import IntrinsicResolver
from bonestore_infra.template import Template

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def template() -> Template:
    return Template()


def policy_config(template: Template) -> dict:
    [policy] = template.resources_of_type("AWS::CloudFront::ResponseHeadersPolicy").values()
    return dict(policy["Properties"]["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"])


def test_cloudfront_sends_what_the_local_server_sends(template: Template) -> None:
    config = policy_config(template)
    local = dict(SECURITY_HEADERS)
    deployed = IntrinsicResolver(template).resolve(config["ContentSecurityPolicy"])
    assert deployed["ContentSecurityPolicy"] == local["Content-Security-Policy"]
    assert "ContentTypeOptions" in config and local["X-Content-Type-Options"] == "nosniff"
    assert config["FrameOptions"]["FrameOption"] == local["X-Frame-Options"]
    assert config["ReferrerPolicy"]["ReferrerPolicy"] == local["Referrer-Policy"]
    assert all(value.get("Override") is True for value in config.values())


def test_every_distribution_behaviour_uses_the_policy(template: Template) -> None:
    [distribution] = template.resources_of_type("AWS::CloudFront::Distribution").values()
    config = distribution["Properties"]["DistributionConfig"]
    behaviours = [config["DefaultCacheBehavior"], *config.get("CacheBehaviors", [])]
    [policy_id] = template.resources_of_type("AWS::CloudFront::ResponseHeadersPolicy")
    for behaviour in behaviours:
        assert behaviour.get("ResponseHeadersPolicyId") == {"Ref": policy_id}, behaviour


def test_the_csp_allows_only_the_pages_own_origin() -> None:
    directives = dict(d.strip().split(" ", 1) for d in CONTENT_SECURITY_POLICY.split(";"))
    assert directives["script-src"] == "'self'"  # no inline script, no eval
    # Its own origin, and Cognito's API for the console's staff sign-in only.
    assert directives["connect-src"] == "'self' https://cognito-idp.us-east-1.amazonaws.com"
    assert directives["object-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in CONTENT_SECURITY_POLICY
